# The seed code's VisDA-2017 IMP recipe (main_imp_visda.py), one state = 20
# epochs: SGD lr 1e-3 (x0.1 at epoch 10), momentum 0.9, wd 5e-4, batch 128;
# RandomResizedCrop 224 (area 0.75-1.33) + flip, validation Resize(224, 224);
# torchvision's ResNet-50 (7x7 stem) with a 12-way fc, torchvision's
# initialisation. The seed validates on VisDA's validation split (the real
# images) and reports it; data/visda2017/{train,validation}/image_list.txt as
# published ("path label" lines).
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py', '../../_base_/imp.py']
model = dict(backbone=dict(zero_init_residual=False),
             head=dict(num_classes=12, topk=(1,), init_cfg=None))
data_preprocessor = dict(num_classes=12)
_visda = dict(type='CustomDataset', data_root='data/visda2017', with_label=True)
train_dataloader = dict(batch_size=128, dataset=dict(
    _delete_=True, **_visda, ann_file='train/image_list.txt', data_prefix='train',
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.75, 1.33), backend='pillow'),
              dict(type='RandomFlip', prob=0.5, direction='horizontal'), dict(type='PackInputs')]))
val_dataloader = dict(batch_size=128, dataset=dict(
    _delete_=True, **_visda, ann_file='validation/image_list.txt', data_prefix='validation',
    pipeline=[dict(type='LoadImageFromFile'), dict(type='Resize', scale=(224, 224), backend='pillow'),
              dict(type='PackInputs')]))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[10], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)  # one state
auto_scale_lr = dict(base_batch_size=128, enable=True)
default_hooks = dict(total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
