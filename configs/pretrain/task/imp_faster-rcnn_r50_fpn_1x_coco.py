# Task-specific IMP on COCO detection with mmdet's stock Faster R-CNN recipe (the 1x schedule is one
# round): the backbone's convs (all but the stem) pruned by 20 % of what remains after every round,
# each round restarting from the pre-trained backbone and the detector as round 0 initialised it.
# The paper's comparison of task-specific and transferred detection tickets, on COCO.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', '../../_base_/imp.py']
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
custom_hooks = [dict(type='ltcv.IMPHook', rounds=10, rate=0.2, rewind='pt', metric='coco/bbox_mAP',
                     source='supervised')]
