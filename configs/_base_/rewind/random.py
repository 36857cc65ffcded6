# Downstream random-pruning baseline: the same rounds and rewind as 'pt_trans',
# but each round removes weights at random instead of by magnitude.
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.IMPHook', rounds=18, rate=0.2, strategy='random_global', rewind='pt_trans')]
