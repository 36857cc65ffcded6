# VisDA-2017 'pt_trans' (main_imp_visda.py --prune_type pt_trans): the whole pre-trained backbone,
# stem included (every key but fc), rewound to after every pruning; 19 trained states of 20 epochs.
_base_ = ['./_base_/visda.py']
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='pt_trans')]
