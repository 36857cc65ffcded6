_base_ = ['./_base_/visda.py', '../../_base_/rewind/lt.py']
model = dict(backbone=dict(init_cfg={{_base_.random_init}}))
