_base_ = ['./_base_/fmnist.py', '../_base_/rewind/pt_trans.py']
# the pre-trained backbone (tools/convert_pretrained.py); its 7x7 stem does not fit the 3x3 one and stays out
model = dict(backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained',
                                         checkpoint='work_dirs/pretrained/resnet50_supervised.pth')))
