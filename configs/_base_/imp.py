# IMP inside a stock train loop, to inherit beside a stock config. The
# configured run (train_cfg.max_epochs / max_iters) is one round; IMPHook
# repeats it `rounds` times with 20 % fewer weights each time, rewinding to
# the weights the run starts from (the pre-trained ones: 'pt'). Keys the stock
# config also sets (train_cfg, param_scheduler) belong in the inheriting
# config: mmengine refuses a key set by two bases.
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.IMPHook', rounds=19, rate=0.2, rewind='pt')]
