# Supervised ImageNet IMP as the seed code runs it (main_imp_imagenet.py):
# the whole torchvision ResNet-50 with its pre-trained 1000-way fc; state 0
# trains 0 epochs (its weights are validated and pruned at once); then 10
# epochs per state at a constant lr 1e-4 (SGD, momentum 0.9, wd 1e-4, a new
# optimizer every state), each ending with a pruning; rewind to the
# pre-trained weights, fc included. 18 trained tickets, 20 % .. 98.2 % sparse
# (the seed's 19th pruning, after the last state, is never trained or saved).
# Weights: tools/convert_pretrained.py resnet50-0676ba61.pth DST --model classifier
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py', './_base_/imp.py']

load_from = 'work_dirs/pretrained/resnet50_supervised_classifier.pth'
model = dict(backbone=dict(init_cfg=None))  # every weight comes from load_from
# torchvision's transforms on PIL images (main_imp_imagenet.py:155-172): mmcv's pillow backend, not cv2
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'), dict(type='PackInputs')]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224), dict(type='PackInputs')]))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10, val_interval=1)  # one state
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, prune_first=True, rewind='pt', source='supervised')]
auto_scale_lr = dict(base_batch_size=256, enable=True)
default_hooks = dict(total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
