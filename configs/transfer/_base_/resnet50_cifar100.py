# CIFAR-100 (mmpretrain reader, ResNet-50 CIFAR recipe), with the backbone restricted to a lottery ticket.
# The stock config's backbone arguments are all kept: only its type changes
# to ltcv.SparseBackbone, which builds the stock mmpretrain.ResNet_CIFAR and applies the ticket.
# The configs in classification/, detection/ and segmentation/ inherit this
# and set the ticket and the pre-trained weights.
_base_ = '../../pretrain/downstream/_base_/cifar100.py'
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
model = dict(backbone=dict(
    type='ltcv.SparseBackbone', wraps='mmpretrain.ResNet_CIFAR', ticket=None, mode='ticket',
    init_cfg=dict(type='Pretrained', checkpoint=None)))
