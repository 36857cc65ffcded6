# The seed's downstream 'lt': the run's random initialisation, rewound to after
# every pruning; 19 trained states (dense, then 20 % .. 98.2 % sparse).
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='lt', test_at_best=True)]
