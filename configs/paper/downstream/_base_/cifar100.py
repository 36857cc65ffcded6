# The seed's downstream recipe (./cifar10.py) on CIFAR-100, with the seed's normalisation.
_base_ = './cifar10.py'
data_preprocessor = dict(num_classes=100, mean=[129.3105, 124.083, 112.4295], std=[51.2295, 50.592, 51.5865])
model = dict(head=dict(num_classes=100))
_train = dict(type='CIFAR100', data_root='data/cifar100', split='train')
train_dataloader = dict(dataset=dict(dataset=dict(_train)))
val_dataloader = dict(dataset=dict(dataset=dict(_train)))
test_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
