# Segmentation transfer of a ticket as the seed code runs it (Segmentation/main_transfer_*.py):
# the recipe of ../_base_/deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py with the pre-trained
# backbone restricted to the ticket (every conv but the stem, downsample convs included).
_base_ = '../_base_/deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py'
ticket = 'work_dirs/imp_supervised_r50_8xb32_in1k/tickets/ticket_round05.safetensors'
model = dict(backbone=dict(type='ltcv.SparseBackbone', wraps='mmseg.ResNet', ticket=ticket, mode='ticket'))
