# The seed code's segmentation recipe (Segmentation/args.py, main_transfer_*.py, main_imp_*.py,
# network/, utils/): DeepLabV3+ ResNet-50 at output stride 16 (layer4 dilated; ASPP rates 6, 12,
# 18), no auxiliary head; VOC 2012 train (1,464 images, not the aug set); each image scaled by a
# random factor of its own size in [0.5, 2], padded on all sides with 0 (image black, label
# background: ltcv.PadIfNeeded, ext_transforms.py:383-390) where under 513, a random 513 crop, a flip; 30k
# iterations at batch 4; SGD momentum 0.9, wd 1e-4, lr 0.01 for the head and 0.001 for the
# backbone, poly 0.9 to 1e-6; plain BatchNorm (one GPU), momentum 0.01 in the backbone;
# validation every 100 iterations (the best is kept). The backbone is mmseg's plain ResNet (the
# torchvision layout the tickets come from) with converted weights through init_cfg.
# The head is 256 channels wide (network/_deeplab.py:37-43, 134-136); the cross-entropy is averaged
# over the pixels that are not ignored (nn.CrossEntropyLoss(ignore_index=255), main_transfer_*.py:92).
# Deviations (README, "Paper configs"): mmseg's DeepLabV3+ head has depthwise-separable ASPP
# convs, and whole images are evaluated at 513 shortest edge (the seed center-crops them).
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py', './imp.py']

pretrained = 'work_dirs/pretrained/resnet50_supervised.pth'
crop_size = (513, 513)
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    pretrained=None,
    data_preprocessor=data_preprocessor,
    backbone=dict(type='ResNet', dilations=(1, 1, 1, 2), strides=(1, 2, 2, 1),
                  norm_cfg=dict(type='BN', requires_grad=True, momentum=0.01),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(dilations=(1, 6, 12, 18), channels=256, norm_cfg=norm_cfg,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                                      avg_non_ignore=True)),
    auxiliary_head=None)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='ltcv.RandomRescale', ratio_range=(0.5, 2.0)),
    dict(type='ltcv.PadIfNeeded', size=513, pad_val=0, seg_pad_val=0),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeShortestEdge', scale=513, max_size=100000),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(
    _delete_=True, type='PascalVOCDataset', data_root='data/VOCdevkit/VOC2012',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = [dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=30000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=30000, val_interval=100)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000, save_best='mIoU'),
                     total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
auto_scale_lr = dict(base_batch_size=4, enable=True)
