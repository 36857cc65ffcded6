# The seed's downstream 'pt': trained from random initialisation in state 0,
# and every later state rewinds to the best-validated weights of state 0
# (its 0model_SA_best checkpoint).
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='pt', rewind_at='round_best',
                     test_at_best=True)]
