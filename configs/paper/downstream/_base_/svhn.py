# The seed's downstream recipe (./cifar10.py) on SVHN: 68,257 train / the last
# 5,000 validation images of the training split, no augmentation, the seed's
# normalisation. mmpretrain has no SVHN reader: the images go in an image
# folder, data/svhn/{train,test}/, listed with their labels in
# meta/{train,test}.txt ("path label" lines) in the order of the official
# train_32x32.mat / test_32x32.mat, which the split follows.
_base_ = './cifar10.py'
# torchvision's SVHN gives RGB (dataset.py:71-74); mmcv decodes the image files as BGR
data_preprocessor = dict(mean=[111.6135, 113.169, 120.564], std=[30.6255, 31.3905, 26.826], to_rgb=True)
_svhn = dict(type='CustomDataset', data_root='data/svhn', with_label=True)
_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(start=0, stop=68257, dataset=dict(
    _delete_=True, **_svhn, ann_file='meta/train.txt', data_prefix='train', pipeline=_pipeline)))
val_dataloader = dict(dataset=dict(start=68257, stop=73257, dataset=dict(
    _delete_=True, **_svhn, ann_file='meta/train.txt', data_prefix='train', pipeline=_pipeline)))
test_dataloader = dict(dataset=dict(
    _delete_=True, **_svhn, ann_file='meta/test.txt', data_prefix='test', pipeline=_pipeline))
