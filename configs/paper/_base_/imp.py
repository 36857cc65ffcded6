# What every paper config shares. The seed code's IMP step (pruning_utils.py):
# global L1 magnitude over every conv but the stem conv1 (downsample convs
# included; fc, BatchNorm and biases never), 20 % of the remaining weights per
# state: IMPHook's defaults (rate 0.2, strategy global_magnitude, stem
# excluded); each leaf sets the states, the rewind and what is kept across
# states. Each leaf's auto_scale_lr.base_batch_size is the authors' total batch.
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
# Every paper config trains the authors' total batch (auto_scale_lr.base_batch_size) on any GPU count:
# each family sets default_hooks.total_batch (ltcv.TotalBatchHook; here it would clash with the stock
# base beside this file): ltcv_mm's tools/train.py and dist_train.sh give each of N GPUs total / N
# images, and under another launcher the hook refuses a different total before training.
