# The seed code's downstream IMP recipe (main_imp_downstream.py, dataset.py,
# utils.py), one state = 182 epochs: SGD lr 0.1, momentum 0.9, wd 2e-4,
# batch 256, 1 warm-up epoch (linear, per iteration), x0.1 at epochs 91 and
# 136; CIFAR's 50k training images split 45k train / 5k validation (the last
# 5k, in the file's order), the test set tested at each state's best
# validation (IMPHook test_at_best); random crop + flip; ResNet-50 with a
# 3x3 stride-1 stem and no max-pool (mmpretrain's ResNet_CIFAR), torchvision's
# initialisation (Kaiming fan_out, BatchNorm 1 / 0, no zero-init residual,
# PyTorch's default Linear init for the fc). Leaves add the IMP type.
_base_ = ['mmpretrain::resnet/resnet50_8xb16_cifar10.py', '../../_base_/imp.py']

model = dict(backbone=dict(zero_init_residual=False), head=dict(init_cfg=None))
_train = dict(type='CIFAR10', data_root='data/cifar10', split='train')
_train_pipeline = [dict(type='RandomCrop', crop_size=32, padding=4),
                   dict(type='RandomFlip', prob=0.5, direction='horizontal'), dict(type='PackInputs')]
_test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=256, drop_last=True, dataset=dict(
    _delete_=True, type='ltcv.IndexRange', start=0, stop=45000, dataset=dict(**_train, pipeline=_train_pipeline)))
val_dataloader = dict(batch_size=256, dataset=dict(
    _delete_=True, type='ltcv.IndexRange', start=45000, stop=50000, dataset=dict(**_train, pipeline=_test_pipeline)))
test_dataloader = dict(batch_size=256, dataset=dict(
    _delete_=True, type='CIFAR10', data_root='data/cifar10', split='test', pipeline=_test_pipeline))
test_evaluator = dict(type='Accuracy', topk=(1,))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[91, 136], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=182, val_interval=1)  # one state
auto_scale_lr = dict(base_batch_size=256, enable=True)
default_hooks = dict(total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
