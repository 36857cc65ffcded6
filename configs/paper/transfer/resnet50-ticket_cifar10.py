# Transfer of a ticket to cifar10 as the seed code evaluates it (main_eval_downstream.py): the
# downstream IMP recipe of ../downstream/_base_/cifar10.py (182 epochs, SGD 0.1, x0.1 at 91 / 136,
# 1 warm-up epoch, wd 2e-4, the same train / validation / test split) at batch 128, with the
# pre-trained backbone (its 7x7 stem does not fit the 3x3 one) restricted to the ticket. The seed
# reports the test accuracy at the best validation epoch: the best checkpoint is kept
# (best_accuracy_top1_epoch_N.pth), tools/test.py CONFIG THAT_CHECKPOINT gives its test accuracy.
_base_ = '../downstream/_base_/cifar10.py'
pretrained = 'work_dirs/pretrained/resnet50_supervised.pth'
ticket = 'work_dirs/imp_supervised_r50_8xb32_in1k/tickets/ticket_round05.safetensors'
model = dict(backbone=dict(type='ltcv.SparseBackbone', wraps='mmpretrain.ResNet_CIFAR', ticket=ticket, mode='ticket',
                           # the new 3x3 stem: Kaiming fan_out (models/resnet.py:160), the rest loaded
                           init_cfg=[dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                                     dict(type='Pretrained', checkpoint=pretrained)]))
train_dataloader = dict(batch_size=128)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best='accuracy/top1',
                                     rule='greater'))
auto_scale_lr = dict(base_batch_size=128, enable=True)
