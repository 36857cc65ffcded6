_base_ = ['./_base_/fmnist.py', '../../_base_/rewind/rewind_lt.py']
model = dict(backbone=dict(init_cfg={{_base_.random_init}}))
