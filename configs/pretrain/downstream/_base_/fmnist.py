# Task-specific IMP on Fashion-MNIST (mmpretrain's FashionMNIST reader of the
# raw idx files in data/fashion_mnist), with the CIFAR-10 recipe on one
# input channel: the stem conv, never part of a ticket, is learned anew.
_base_ = './cifar10.py'
data_preprocessor = dict(num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)
model = dict(backbone=dict(in_channels=1))
_fmnist = dict(type='FashionMNIST', data_root='data/fashion_mnist', _delete_=True)
train_dataloader = dict(dataset=dict(
    **_fmnist, split='train',
    pipeline=[dict(type='RandomCrop', crop_size=28, padding=2), dict(type='PackInputs')]))
val_dataloader = dict(dataset=dict(**_fmnist, split='test', pipeline=[dict(type='PackInputs')]))
test_dataloader = val_dataloader
