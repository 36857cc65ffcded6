# The paper's IMP on a pre-training task, to inherit beside a stock config:
# 10 epochs per round at a constant learning rate (the configured run is one
# round), prune 20 % of the remaining weights per round, rewind to the
# pre-trained weights the run starts from ('pt').
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10)
custom_hooks = [
    dict(type='ltcv.MaskApplyHook'),
    dict(type='ltcv.RewindHook', mode='pt'),
    dict(type='ltcv.IMPHook', rounds=19, rate=0.2),
]
