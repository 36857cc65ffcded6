# ./imp_faster-rcnn_r50_fpn_1x_coco.py with late resetting (Girish et al., CVPR 2021): every round
# rewinds to the detector after 1,000 iterations of round 0 (inside its first epoch), not to its start.
_base_ = './imp_faster-rcnn_r50_fpn_1x_coco.py'
custom_hooks = [dict(type='ltcv.IMPHook', rounds=10, rate=0.2, rewind='rewind_lt', rewind_at=1000,
                     rewind_unit='iters', metric='coco/bbox_mAP', source='supervised')]
