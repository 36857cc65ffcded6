# Task-specific IMP on VisDA-2017 (12 classes; synthetic train, real
# validation) with mmpretrain's ImageNet ResNet-50 recipe, images in the
# image-folder layout data/visda2017/{train,validation}/<class>/*.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')),
    head=dict(num_classes=12, topk=(1,)))
data_preprocessor = dict(num_classes=12)
train_dataloader = dict(dataset=dict(type='CustomDataset', data_root='data/visda2017', data_prefix='train',
                                     pipeline={{_base_.train_pipeline}}, _delete_=True))
val_dataloader = dict(dataset=dict(type='CustomDataset', data_root='data/visda2017', data_prefix='validation',
                                   pipeline={{_base_.test_pipeline}}, _delete_=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
