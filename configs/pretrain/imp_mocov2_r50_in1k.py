# MoCo v2 IMP on ResNet-50 (mmpretrain's MoCo): SGD at a fixed lr 3e-4, prune
# every 10 epochs, 180 epochs, rewind to the pre-trained MoCo v2 weights. The
# masks are found on the query encoder (backbone.*) and IMPHook applies
# the same mask to the momentum encoder (encoder_k.module.0.*).
# Both encoders must start from the pre-trained weights: mmpretrain's MoCo
# copies its key encoder when it is built, before init_cfg loads anything,
# so a backbone init_cfg would leave the key encoder random. The weights come
# whole through load_from, made by
#   tools/convert_pretrained.py moco_v2_800ep_pretrain.pth.tar DST --model mocov2
_base_ = ['mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py', '../_base_/imp.py']

load_from = 'work_dirs/pretrained/mocov2_r50_model.pth'
optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
train_cfg = dict(max_epochs=10)  # one round
custom_hooks = [dict(type='ltcv.IMPHook', rounds=17, rate=0.2, source='mocov2', prefix='backbone.', rewind='pt')]
