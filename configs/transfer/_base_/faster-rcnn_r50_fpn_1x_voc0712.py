# Faster R-CNN R-50-FPN on VOC 07+12, stock VOCMetric, with the backbone restricted to a lottery ticket.
# The stock config's backbone arguments are all kept: only its type changes
# to ltcv.SparseBackbone, which builds the stock mmdet.ResNet and applies the ticket.
# The configs in classification/, detection/ and segmentation/ inherit this
# and set the ticket and the pre-trained weights.
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
model = dict(backbone=dict(
    type='ltcv.SparseBackbone', wraps='mmdet.ResNet', ticket=None, mode='ticket',
    init_cfg=dict(type='Pretrained', checkpoint=None)))
