# The seed's --random_prune with 'pt_trans': global random pruning of 20 % of
# the remaining weights per state instead of magnitude, pre-trained weights.
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, strategy='random_global', rewind='pt_trans',
                     test_at_best=True)]
