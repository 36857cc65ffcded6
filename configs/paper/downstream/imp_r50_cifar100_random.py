_base_ = ['./_base_/cifar100.py', '../_base_/rewind/random.py']
# the pre-trained backbone (tools/convert_pretrained.py); its 7x7 stem does not fit the 3x3 one and stays out
# the new 3x3 stem: Kaiming fan_out, as the authors' models/resnet.py:160 initialises it before loading
# (another pre-trained file: --cfg-options model.backbone.init_cfg.1.checkpoint=PATH)
model = dict(backbone=dict(init_cfg=[
    dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
    dict(type='Pretrained', checkpoint='work_dirs/pretrained/resnet50_supervised.pth')]))
