# Downstream IMP, this family's 'pt' (a variant on the stock recipes, not the authors'): start from the
# pre-trained backbone the leaf loads, fine-tune it densely in round 0, and rewind every later round to
# those fine-tuned weights (captured at the end of round 0). The authors' downstream 'pt' trains round 0
# from a random initialisation and rewinds to its best-validated weights: configs/paper/_base_/rewind/pt.py.
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.IMPHook', rounds=18, rate=0.2, rewind='pt', rewind_at='round_end')]
