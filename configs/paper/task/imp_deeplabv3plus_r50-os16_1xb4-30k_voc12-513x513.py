# Task-specific IMP on segmentation as the seed code runs it (Segmentation/main_imp_*.py,
# sh/imp_*.sh): 19 states of the transfer recipe (30k iterations each), each ending with a global
# 20 % magnitude pruning of the backbone (every conv but the stem), every state restarting from the
# pre-trained backbone and the head as state 0 initialised it. 18 tickets, 20 % .. 98.2 % sparse.
_base_ = '../_base_/deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py'
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='pt', metric='mIoU', source='supervised')]
