# Downstream IMP, 'pt' as the seed code runs it: start from the pre-trained
# backbone, fine-tune it densely in round 0, and rewind every later round to
# those fine-tuned weights (captured at the end of round 0).
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.IMPHook', rounds=18, rate=0.2, rewind='pt', rewind_at='round_end')]
