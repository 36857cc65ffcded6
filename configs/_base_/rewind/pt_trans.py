# Downstream IMP, 'pt_trans': rewind to the pre-trained backbone (the head as initialised).
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.IMPHook', rounds=18, rate=0.2, rewind='pt_trans')]
