# Task-specific IMP on detection with the seed code's schedule (Detection/train_imp.py,
# TicketSH/imp_*.sh): 19 states of 50 epochs, each ending with a global 20 % magnitude pruning of the
# backbone (every conv but the stem), every state restarting from the pre-trained backbone and the
# detector as state 0 initialised it. Faster R-CNN in place of the seed's YOLOv4 (README).
_base_ = '../_base_/faster-rcnn_r50_fpn_1xb8-50e_voc0712-416.py'
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='pt', metric='pascal_voc/mAP',
                     source='supervised')]
