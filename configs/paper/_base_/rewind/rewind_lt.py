# The seed's downstream 'rewind_lt': random initialisation, rewound to the
# weights after 9 epochs of state 0 (--rewind_epoch 9).
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='rewind_lt', rewind_at=9, test_at_best=True)]
