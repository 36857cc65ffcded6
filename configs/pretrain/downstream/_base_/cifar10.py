# Task-specific IMP on CIFAR-10: mmpretrain's ResNet-50 CIFAR recipe (200
# epochs = one round), backbone initialised from converted pre-trained weights.
_base_ = 'mmpretrain::resnet/resnet50_8xb16_cifar10.py'
model = dict(backbone=dict(init_cfg=dict(
    type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
