import torch
import torchvision

from ltcv_mm.core import canonical_name, infer_arch, select_prunable, split_canonical


def test_split_canonical_across_prefixes():
    assert split_canonical('layer1.0.conv1.weight') == ('', 'layer1.0.conv1.weight')
    assert split_canonical('backbone.layer2.0.downsample.0.weight') == ('backbone.', 'layer2.0.downsample.0.weight')
    assert split_canonical('encoder_k.module.0.layer4.2.conv3.weight') == (
        'encoder_k.module.0.', 'layer4.2.conv3.weight')
    assert split_canonical('module.encoder_q.conv1.weight') == ('module.encoder_q.', 'conv1.weight')
    assert canonical_name('neck.lateral_convs.0.conv.weight') is None
    assert canonical_name('decode_head.conv_seg.weight') is None


def test_default_selection_is_resnet50_convs_without_stem(resnet50_state):
    sel = select_prunable(resnet50_state)
    assert len(sel) == 52
    assert sum(v.numel() for v in sel.values()) == 23_445_504
    assert 'conv1.weight' not in sel and 'fc.weight' not in sel
    assert all(v.dim() == 4 for v in sel.values())
    assert infer_arch({k: tuple(v.shape) for k, v in sel.items()}) == 'resnet50'


def test_include_exclude_patterns(resnet50_state):
    only4 = select_prunable(resnet50_state, include=['layer4.*'])
    assert only4 and all(k.startswith('layer4.') for k in only4)
    with_stem = select_prunable(resnet50_state, exclude=[])
    assert 'conv1.weight' in with_stem and len(with_stem) == 53
    no_ds = select_prunable(resnet50_state, exclude=['conv1.weight', '*.downsample.*'])
    assert len(no_ds) == 48


def test_selection_under_prefix_picks_one_copy():
    m = torch.nn.ModuleDict({'backbone': torchvision.models.resnet18(),
                             'encoder_k': torchvision.models.resnet18()})
    params = dict(m.named_parameters())
    sel = select_prunable(params, prefix='encoder_k.')
    assert sel['layer1.0.conv1.weight'] is params['encoder_k.layer1.0.conv1.weight']
    assert infer_arch({k: tuple(v.shape) for k, v in sel.items()}) == 'resnet18'
