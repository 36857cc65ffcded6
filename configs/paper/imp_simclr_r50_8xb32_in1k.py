# SimCLR IMP as the seed code runs it (SimCLR/main.py, args.py, pruning.py):
# the pre-trained backbone is pruned before any training, then 18 states of
# 10 epochs, each ending with a pruning and a rewind of the backbone alone
# (the projection head keeps training) to the pre-trained weights; LARS at a
# constant lr 1e-4 (momentum 0.9, wd 1e-6, eta 1e-3, on every parameter) whose
# state is never reset; NT-Xent at temperature 0.5 over a total batch of 256, as -log of the
# batch mean of the positive-pair probabilities;
# head Linear-ReLU-Linear with biases and no BatchNorm; views: random resized
# crop (0.08-1), flip, colour jitter 0.8/0.2 (p 0.8), grayscale (p 0.2), no
# blur, pixels scaled to [0, 1] without mean / std normalisation. The seed's
# loader does not shuffle (ImageFolder order): followed here, see the README.
# Weights: tools/convert_pretrained.py simclr_weight.pt DST
_base_ = ['mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py', './_base_/imp.py']

_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8,
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
]
train_dataloader = dict(
    batch_size=32,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='MultiView', num_views=2, transforms=[_view]),
                           dict(type='PackInputs')]))
data_preprocessor = dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0])  # ToTensor only
model = dict(
    backbone=dict(norm_cfg=dict(type='BN'),  # DataParallel in the seed: no synchronised BatchNorm
                  init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_simclr.pth')),
    neck=dict(_delete_=True, type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128,
              with_avg_pool=True),
    # the authors' loss, -log(mean_i p_i) (SimCLR/utils.py:79-80); mmpretrain's mean of -log p_i:
    # --cfg-options model.head.loss.type=CrossEntropyLoss
    head=dict(temperature=0.5, loss=dict(type='ltcv.NegLogMeanProbLoss')))
# LARS with the authors' trust ratio, over each pruned layer's dense weight (their weight_orig); mmpretrain's
# LARS over the kept weights: --cfg-options optim_wrapper.optimizer.type=LARS (README: measured difference)
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='ltcv.DenseNormLARS', lr=1e-4, momentum=0.9, weight_decay=1e-6, eta=1e-3))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10)  # one state
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, prune_first=True, rewind='pt',
                     rewind_keys=['backbone.*'], restart_optimizer=False, source='simclr'),
                dict(type='ltcv.DenseNormLARSHook')]
auto_scale_lr = dict(base_batch_size=256, enable=True)
default_hooks = dict(total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
