# A CIFAR-10 ticket on fmnist (Mehta 2019, "Sparse transfer learning via winning lottery
# tickets"): the mask and the weights a CIFAR-10 IMP run rewinds to (its ticket's own
# initialisation), trained on fmnist with the downstream recipe of ../downstream/_base_/fmnist.py;
# the stem (one input channel here) is learned anew, as it is never part of a ticket. Weights:
#   tools/ticket.py rewind-weights work_dirs/imp_r50_cifar10_rewind_lt/epoch_182.pth -o CIFAR10_REWIND
_base_ = '../downstream/_base_/fmnist.py'
pretrained = 'work_dirs/imp_r50_cifar10_rewind_lt/rewind_weights.pth'
ticket = 'work_dirs/imp_r50_cifar10_rewind_lt/tickets/ticket_round05.safetensors'
model = dict(backbone=dict(type='ltcv.SparseBackbone', wraps='mmpretrain.ResNet_CIFAR', ticket=ticket, mode='ticket',
                           init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained)))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_best='accuracy/top1',
                                     rule='greater'))
