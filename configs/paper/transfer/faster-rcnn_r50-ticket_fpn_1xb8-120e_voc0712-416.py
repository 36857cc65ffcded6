# Detection transfer of a ticket with the seed code's schedule (Detection/train_transfer.py): the
# recipe of ../_base_/faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py with the pre-trained backbone
# restricted to the ticket.
_base_ = '../_base_/faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py'
ticket = 'work_dirs/imp_supervised_r50_8xb32_in1k/tickets/ticket_round05.safetensors'
model = dict(backbone=dict(type='ltcv.SparseBackbone', wraps='mmdet.ResNet', ticket=ticket, mode='ticket'))
