# The paper's ResNet-50 vs ResNet-152 comparison of SimCLR tickets on CIFAR-100: the seed's downstream
# pt_trans recipe (main_imp_downstream.py --arch resnet152 --prune_type pt_trans; utils.py:42-43) on a
# ResNet-152 with a 3x3 stem, loaded from SimCLR ResNet-152 weights converted by
# tools/convert_pretrained.py. Its ResNet-50 counterpart: imp_r50_cifar100_pt_trans.py with
# --cfg-options model.backbone.init_cfg.1.checkpoint=work_dirs/pretrained/resnet50_simclr.pth
_base_ = ['./_base_/cifar100.py', '../_base_/rewind/pt_trans.py']
# the new 3x3 stem: Kaiming fan_out, as the authors' models/resnet.py:160 initialises it before loading
model = dict(backbone=dict(depth=152, init_cfg=[
    dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
    dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet152_simclr.pth')]))
