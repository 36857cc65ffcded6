# Downstream IMP, 'lt' (the original lottery tickets): random initialisation,
# rewound to it after every pruning.
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.IMPHook', rounds=18, rate=0.2, rewind='lt')]
# The stock ResNet initialisation; leaves use it instead of the pre-trained
# weights: model = dict(backbone=dict(init_cfg={{_base_.random_init}})).
random_init = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
