# Task-specific IMP on SVHN, with the CIFAR-10 recipe. mmpretrain has no SVHN
# reader: the images go in an image-folder layout (CustomDataset),
# data/svhn/{train,test}/<digit>/*.png.
_base_ = './cifar10.py'
data_preprocessor = dict(mean=[111.6, 113.2, 120.6], std=[50.5, 51.3, 50.2])
_svhn = dict(type='CustomDataset', data_root='data/svhn', _delete_=True)
train_dataloader = dict(dataset=dict(
    **_svhn, data_prefix='train',
    pipeline=[dict(type='LoadImageFromFile'), dict(type='RandomCrop', crop_size=32, padding=4),
              dict(type='PackInputs')]))
val_dataloader = dict(dataset=dict(
    **_svhn, data_prefix='test', pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
test_dataloader = val_dataloader
