# Transfer of a ticket to VisDA-2017 as the seed code evaluates it (main_eval_visda.py): the VisDA IMP
# recipe of ../downstream/_base_/visda.py (20 epochs, SGD 1e-3 x0.1 from epoch 10, momentum 0.9, wd 5e-4,
# the same transforms, :120-131) on the whole pre-trained backbone, stem included (load_ticket_vis: every
# key but fc; conv1 loaded and, without --conv1, never pruned), restricted to the ticket. Batch 64, the
# code's default (:38); the authors' README runs it with -b 256: --cfg-options
# auto_scale_lr.base_batch_size=256 trains that total at the same lr. The best validation accuracy is
# reported (best_acc1, :157-169): the best checkpoint is kept.
_base_ = '../downstream/_base_/visda.py'
pretrained = 'work_dirs/pretrained/resnet50_supervised.pth'
ticket = 'work_dirs/imp_supervised_r50_8xb32_in1k/tickets/ticket_round05.safetensors'
model = dict(backbone=dict(type='ltcv.SparseBackbone', wraps='mmpretrain.ResNet', ticket=ticket, mode='ticket',
                           init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
train_dataloader = dict(batch_size=64)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best='accuracy/top1',
                                     rule='greater'))
auto_scale_lr = dict(base_batch_size=64, enable=True)
