# The seed's downstream recipe (./cifar10.py) on Fashion-MNIST (mmpretrain's
# reader of the idx files in data/fashion_mnist): 55k train / the last 5k
# validation, no augmentation, the seed's normalisation (mean 0.1436, std
# 0.1609), a one-channel 3x3 stem (learned anew, never part of a ticket).
_base_ = './cifar10.py'
data_preprocessor = dict(num_classes=10, mean=[36.618], std=[41.0295], to_rgb=False)
# The authors replace conv1 after initialising the model (utils.py:48), so it keeps nn.Conv2d's own
# init, kaiming_uniform_(a=sqrt(5)); mmpretrain's default gives every conv Kaiming fan_out. (pt_trans,
# random and the transfers set init_cfg to the pre-trained file, which leaves the stem as built: the same.)
model = dict(backbone=dict(in_channels=1, init_cfg=[
    dict(type='Kaiming', layer=['Conv2d'],
         override=dict(name='conv1', type='Kaiming', a=2.23606797749979, mode='fan_in', nonlinearity='leaky_relu',
                       distribution='uniform')),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]))
_train = dict(_delete_=True, type='FashionMNIST', data_root='data/fashion_mnist', split='train',
              pipeline=[dict(type='PackInputs')])
train_dataloader = dict(dataset=dict(start=0, stop=55000, dataset=_train))
val_dataloader = dict(dataset=dict(start=55000, stop=60000, dataset=_train))
test_dataloader = dict(dataset=dict(type='FashionMNIST', data_root='data/fashion_mnist'))
