# Task-specific IMP on VOC 2012 aug segmentation with mmseg's stock DeepLabV3+ recipe as one round,
# on the plain ResNet-50 (mmseg's ResNet, not the deep-stem ResNetV1c: the layout of the tickets).
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py', '../../_base_/imp.py']
model = dict(pretrained=None, backbone=dict(
    type='ResNet', init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
custom_hooks = [dict(type='ltcv.SyncBNFallbackHook'),  # the stock SyncBN: plain BN on CPU-only runs
                dict(type='ltcv.IMPHook', rounds=10, rate=0.2, rewind='pt', metric='mIoU', source='supervised')]
