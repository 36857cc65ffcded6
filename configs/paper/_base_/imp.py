# What every paper config shares. The seed code's IMP step (pruning_utils.py):
# global L1 magnitude over every conv but the stem conv1 (downsample convs
# included; fc, BatchNorm and biases never), 20 % of the remaining weights per
# state: IMPHook's defaults (rate 0.2, strategy global_magnitude, stem
# excluded); each leaf sets the states, the rewind and what is kept across
# states. mmengine's auto_scale_lr (enabled in each leaf, with the seed's total
# batch) scales the lr linearly when GPUs x batch per GPU differs from it.
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
