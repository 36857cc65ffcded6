_base_ = '../_base_/mask-rcnn_r50_fpn_1x_coco.py'
# converted pre-trained weights (tools/convert_pretrained.py) and a ticket
# found in them (configs/pretrain/imp_supervised_r50_in1k.py, round 6: 73.8 % sparse)
pretrained = 'work_dirs/pretrained/resnet50_supervised.pth'
ticket = 'work_dirs/imp_supervised_r50_in1k/tickets/ticket_round06.safetensors'
model = dict(backbone=dict(ticket=ticket, init_cfg=dict(checkpoint=pretrained)))
