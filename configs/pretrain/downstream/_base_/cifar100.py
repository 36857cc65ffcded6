# Task-specific IMP on CIFAR-100 (mmpretrain's ResNet-50 CIFAR-100 recipe).
_base_ = 'mmpretrain::resnet/resnet50_8xb16_cifar100.py'
model = dict(backbone=dict(init_cfg=dict(
    type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
