_base_ = '../_base_/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py'
# converted pre-trained weights (tools/convert_pretrained.py) and a ticket
# found in them (configs/pretrain/imp_simclr_r50_in1k.py, round 6: 73.8 % sparse)
pretrained = 'work_dirs/pretrained/resnet50_simclr.pth'
ticket = 'work_dirs/imp_simclr_r50_in1k/tickets/ticket_round06.safetensors'
model = dict(backbone=dict(ticket=ticket, init_cfg=dict(checkpoint=pretrained)))
