# The seed's downstream 'pt_trans': the pre-trained backbone without its stem
# conv1 (the leaf sets model.backbone.init_cfg), rewound to after every pruning.
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='pt_trans', test_at_best=True)]
