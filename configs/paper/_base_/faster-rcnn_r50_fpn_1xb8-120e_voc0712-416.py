# The seed code's detection schedule (Detection/config/yolov4_config.py, train_transfer.py,
# train_imp.py): VOC 07+12 trainval -> VOC07 test, 416 px, batch 8 (2 accumulated: 16 a step), 120
# epochs, SGD momentum 0.9,
# wd 5e-4, lr 1e-4 with 2 warm-up epochs then cosine to 1e-6 (per iteration), the whole backbone
# trained (no frozen stage, BatchNorm in training mode). The seed's detector is a YOLOv4 fork with a
# ResNet-50 backbone; mmdet has none, so this is Faster R-CNN R-50-FPN under that schedule: its
# figures are not the paper's (README, "Paper configs", lists what differs).
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', './imp.py']

pretrained = 'work_dirs/pretrained/resnet50_supervised.pth'
model = dict(backbone=dict(frozen_stages=-1, norm_eval=False, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
# the authors' augmentation (utils/datasets.py:110-115, utils/data_augment.py): flip, a crop and a shift
# that keep every box whole (p 0.5 each), a 416 letterbox on grey; their mixup is not here (README)
_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ltcv.BoxSafeCrop', prob=0.5),
    dict(type='ltcv.BoxSafeTranslate', prob=0.5),
    dict(type='ltcv.LetterBox', size=416, pad_val=128),
    dict(type='PackDetInputs'),
]
_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(416, 416), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
_voc = dict(type='VOCDataset', data_root='data/VOCdevkit/', pipeline=_train_pipeline,
            filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32))
train_dataloader = dict(batch_size=8, dataset=dict(
    _delete_=True, type='ConcatDataset', ignore_keys=['dataset_type'], datasets=[
        dict(**_voc, ann_file='VOC2007/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2007/')),
        dict(**_voc, ann_file='VOC2012/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2012/'))]))
val_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
test_dataloader = val_dataloader
# --accumulate 2: a step every second batch on the SUM of their gradients (train_transfer.py:236-242)
optim_wrapper = dict(type='ltcv.SummedAccumulationOptimWrapper', accumulative_counts=2,
                     optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, weight_decay=5e-4))
# CosineDecayLR(T_max 120 N, lr 1e-4 to 1e-6, warm-up 2 N) stepped at t = N / 8 * epoch + i, as the loop
# does (train_transfer.py:208-212): a saw-tooth warm-up over about 16 epochs, then about 1e-4 to the end;
# epoch_stride=1 gives the schedule as configured
param_scheduler = [dict(type='ltcv.SawtoothCosineLR', epochs=120, warmup_epochs=2, epoch_stride=1 / 8, eta_min=1e-6,
                        by_epoch=True, convert_to_iter_based=True)]
# 120 epochs: the 50-epoch setting is for MODEL_TYPE 'YOLOv4' only (train_transfer.py:63-67), the config
# sets 'Resnet50-YOLOv4' (config/yolov4_config.py:20, 36)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=120, val_interval=1)
# VOC07 11-point AP averaged over IoU 0.50:0.95, with each threshold's AP (AP50, AP75, ...) beside it
# (eval/evaluator.py:208-236, use_07_metric): pascal_voc/mAP is the average
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points',
                     iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator
auto_scale_lr = dict(base_batch_size=8, enable=True)
default_hooks = dict(total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
