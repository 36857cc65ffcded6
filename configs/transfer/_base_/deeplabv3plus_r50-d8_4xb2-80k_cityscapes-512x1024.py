# DeepLabV3+ R-50-D8 on Cityscapes, stock IoUMetric, with the backbone restricted to a lottery ticket.
# The stock config's backbone arguments are all kept: only its type changes
# to ltcv.SparseBackbone, which builds the stock mmseg.ResNet and applies the ticket.
# The configs in classification/, detection/ and segmentation/ inherit this
# and set the ticket and the pre-trained weights.
# mmseg's ResNetV1c has a deep stem; tickets come from the plain ResNet-50
# (deep_stem=False), whose weights load through init_cfg (model.pretrained
# is mmseg's other way in, and must stay unset beside init_cfg). The stock
# SyncBN becomes plain BN when the run is on the CPU (SyncBNFallbackHook).
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
custom_hooks = [dict(type='ltcv.SyncBNFallbackHook')]
model = dict(pretrained=None, backbone=dict(
    type='ltcv.SparseBackbone', wraps='mmseg.ResNet', ticket=None, mode='ticket',
    init_cfg=dict(type='Pretrained', checkpoint=None)))
