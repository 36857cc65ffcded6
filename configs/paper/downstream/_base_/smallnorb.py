# The seed's downstream recipe (./cifar10.py) on SmallNORB (ltcv.SmallNORB reads the official
# files in data/smallnorb; the left camera's image), resized from 96 to 32 pixels for the CIFAR
# ResNet-50, one channel, five classes; the last 4,300 training pairs are the validation set
# (20k / 4.3k), no augmentation. Not a seed recipe: the target of Mehta (2019)'s cross-dataset
# tickets, here on the seed's schedule.
_base_ = './cifar10.py'
data_preprocessor = dict(num_classes=5, mean=[127.5], std=[64.0], to_rgb=False)
model = dict(backbone=dict(in_channels=1), head=dict(num_classes=5))
_pipeline = [dict(type='Resize', scale=(32, 32), interpolation='bilinear'), dict(type='PackInputs')]
_train = dict(_delete_=True, type='ltcv.SmallNORB', data_root='data/smallnorb', split='train', pipeline=_pipeline)
train_dataloader = dict(dataset=dict(start=0, stop=20000, dataset=_train))
val_dataloader = dict(dataset=dict(start=20000, stop=24300, dataset=_train))
test_dataloader = dict(dataset=dict(_delete_=True, type='ltcv.SmallNORB', data_root='data/smallnorb', split='test',
                                    pipeline=_pipeline))
