# Task-specific IMP on VOC 07+12 detection with mmdet's stock Faster R-CNN VOC recipe as one round.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', '../../_base_/imp.py']
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
custom_hooks = [dict(type='ltcv.IMPHook', rounds=10, rate=0.2, rewind='pt', metric='pascal_voc/mAP',
                     source='supervised')]
