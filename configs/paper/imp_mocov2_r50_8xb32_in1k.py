# MoCo v2 IMP as the seed code runs it (MoCo/main_moco_imp.py): the
# pre-trained query encoder with its MLP head loaded into both encoders and
# pruned before any training (the key encoder takes the query encoder's mask),
# then 18 states of 10 epochs, each ending with a pruning and a rewind of both
# encoders to the pre-trained weights; the queue and the SGD state (lr 3e-4
# fixed, momentum 0.9, wd 1e-4) are kept across states. tau 0.2, queue
# 65,536, key momentum 0.999, MoCo v2 augmentation, total batch 256: the
# stock mmpretrain MoCo v2 config already has them.
# Weights: tools/convert_pretrained.py moco_v2_800ep_pretrain.pth.tar DST --model mocov2
_base_ = ['mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py', './_base_/imp.py']

load_from = 'work_dirs/pretrained/mocov2_r50_model.pth'
optim_wrapper = dict(optimizer=dict(type='SGD', lr=3e-4, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10)  # one state
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, prune_first=True, rewind='pt', prefix='backbone.',
                     rewind_keys=['backbone.*', 'neck.*', 'encoder_k.module.*'], restart_optimizer=False,
                     source='mocov2')]
auto_scale_lr = dict(base_batch_size=256, enable=True)
default_hooks = dict(total_batch=dict(type='ltcv.TotalBatchHook'))  # the authors' total batch on any GPU count
