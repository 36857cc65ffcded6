# SimCLR IMP on ResNet-50 on mmpretrain's stock SimCLR recipe (the authors' own, point by point, is
# configs/paper/imp_simclr_r50_8xb32_in1k.py): LARS at
# lr 1e-4, prune every 10 epochs, 180 epochs (17 prunings, 18 rounds), rewind
# to the pre-trained SimCLR weights (converted by tools/convert_pretrained.py).
_base_ = ['mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py', '../_base_/imp.py']

model = dict(backbone=dict(init_cfg=dict(
    type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_simclr.pth')))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10)  # one round
custom_hooks = [
    dict(type='ltcv.SyncBNFallbackHook'),  # the stock SimCLR uses SyncBN; plain BN on CPU-only runs
    dict(type='ltcv.IMPHook', rounds=17, rate=0.2, source='simclr', rewind='pt'),
]
