# Task-specific IMP on detection with the seed code's schedule (Detection/train_imp.py,
# TicketSH/imp_*.sh): 19 states of 120 epochs (train_imp.py:63-67), each ending with a global 20 %
# magnitude pruning of the backbone (every conv but the stem). Between states only the pruned conv
# kernels go back to the pre-trained weights; BatchNorm, the stem, the neck and the heads carry on from
# the end of the previous state (train_imp.py:161-181; the full rewind there is commented out).
# Faster R-CNN in place of the seed's YOLOv4 (README).
_base_ = '../_base_/faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py'
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='pt', metric='pascal_voc/mAP',
                     rewind_keys=['backbone.layer*.conv*.weight', 'backbone.layer*.downsample.0.weight'],
                     source='supervised')]
