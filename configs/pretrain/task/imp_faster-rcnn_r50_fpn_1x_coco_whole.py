# ./imp_faster-rcnn_r50_fpn_1x_coco_late-reset.py, pruning the whole detector: backbone, FPN, RPN and
# RoI heads under one global ranking, the last classifier and box layers dense (Girish et al.).
_base_ = './imp_faster-rcnn_r50_fpn_1x_coco.py'
custom_hooks = [dict(type='ltcv.IMPHook', rounds=10, rate=0.2, rewind='rewind_lt', rewind_at=1000,
                     rewind_unit='iters', scope='model', metric='coco/bbox_mAP', source='supervised')]
