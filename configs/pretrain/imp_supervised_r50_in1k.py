# Supervised ImageNet IMP on ResNet-50 on mmpretrain's stock recipe (the authors' own, point by point,
# is configs/paper/imp_supervised_r50_8xb32_in1k.py): start from (and rewind
# to) the pre-trained weights, 10 epochs per round at lr 1e-4, 19 rounds.
# Pre-trained weights: a file made by tools/convert_pretrained.py, e.g.
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/pretrained/resnet50_tv.pth
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py', '../_base_/imp.py']

model = dict(backbone=dict(init_cfg=dict(
    type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10)  # one round
custom_hooks = [dict(type='ltcv.IMPHook', rounds=19, rate=0.2, source='supervised', rewind='pt')]
