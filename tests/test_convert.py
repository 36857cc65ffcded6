"""Pre-trained checkpoints of every supported layout to canonical backbone weights."""
import pytest
import torch

from ltcv_mm.core import UnknownLayoutError, detect_format, to_canonical

import layouts
from helpers import ROOT, run_tool

EXPECTED_FORMAT = {'torchvision': 'torchvision', 'moco': 'moco', 'simclr': 'simclr',
                   'mmpretrain': 'mmpretrain', 'mmpretrain_simclr': 'mmpretrain',
                   'mmpretrain_moco': 'mmpretrain', 'mmselfsup': 'mmselfsup'}


@pytest.mark.parametrize('layout', sorted(layouts.ALL))
def test_each_layout_gives_the_backbone(layout):
    ckpt = layouts.ALL[layout](seed=1)
    assert detect_format(ckpt) == EXPECTED_FORMAT[layout]
    state, fmt = to_canonical(ckpt)
    reference = {k: v for k, v in layouts.torchvision_ckpt(seed=1).items() if not k.startswith('fc.')}
    assert set(state) == set(reference)
    for k, v in reference.items():
        assert torch.equal(state[k], v), k


def test_old_torchvision_file_gets_num_batches_tracked():
    state, _ = to_canonical(layouts.torchvision_ckpt(old=True))
    assert 'bn1.num_batches_tracked' in state and 'layer1.0.bn3.num_batches_tracked' in state


def test_unknown_layout_is_explained():
    with pytest.raises(UnknownLayoutError, match=r'w.pth: unknown checkpoint layout.*first keys'):
        to_canonical({'model': {'blocks.0.attn.qkv.weight': torch.zeros(1)}}, where='w.pth')
    with pytest.raises(UnknownLayoutError, match="holds no ResNet under 'module.encoder_q.'"):
        to_canonical(layouts.simclr_converted_ckpt(), fmt='moco')


def _backbones():
    from mmdet.models.backbones import ResNet as DetResNet
    from mmpretrain.models.backbones import ResNet as ClsResNet
    from mmseg.models.backbones import ResNet as SegResNet
    return {'mmpretrain': lambda: ClsResNet(depth=50),
            'mmdet': lambda: DetResNet(depth=50),
            'mmseg': lambda: SegResNet(depth=50)}


@pytest.mark.parametrize('layout', ['torchvision', 'moco', 'simclr', 'mmpretrain', 'mmselfsup'])
def test_convert_tool_output_loads_strictly_into_openmmlab_backbones(layout, tmp_path):
    src = tmp_path / 'src.pth'
    torch.save(layouts.ALL[layout](seed=2), src)
    dst = tmp_path / 'canonical.pth'
    out = run_tool(str(ROOT / 'tools/convert_pretrained.py'), str(src), str(dst))
    assert f'read as {EXPECTED_FORMAT[layout]}' in out.stdout
    ckpt = torch.load(dst, weights_only=True)
    from mmengine.runner.checkpoint import load_checkpoint
    for package, build in _backbones().items():
        backbone = build()
        # strict=True raises on any missing or unexpected key
        load_checkpoint(backbone, str(dst), strict=True, map_location='cpu')
        sd = backbone.state_dict()
        assert set(sd) == set(ckpt['state_dict']), package
        assert torch.equal(sd['layer3.1.conv2.weight'], ckpt['state_dict']['layer3.1.conv2.weight'])


def test_convert_tool_through_init_cfg(tmp_path):
    """The way configs use it: init_cfg=dict(type='Pretrained', checkpoint=...)."""
    src, dst = tmp_path / 'moco.pth.tar', tmp_path / 'moco_r50.pth'
    torch.save(layouts.moco_official_ckpt(seed=3), src)
    run_tool(str(ROOT / 'tools/convert_pretrained.py'), str(src), str(dst))
    from mmdet.models.backbones import ResNet
    backbone = ResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    backbone.init_weights()
    expected = layouts.moco_official_ckpt(seed=3)['state_dict']['module.encoder_q.layer4.2.conv3.weight']
    assert torch.equal(backbone.layer4[2].conv3.weight, expected)


def test_convert_tool_errors(tmp_path):
    bad = tmp_path / 'bad.pth'
    torch.save({'foo': torch.zeros(2)}, bad)
    proc = run_tool(str(ROOT / 'tools/convert_pretrained.py'), str(bad), str(tmp_path / 'o.pth'), check=False)
    assert proc.returncode != 0 and 'bad.pth: unknown checkpoint layout' in proc.stderr
    assert not (tmp_path / 'o.pth').exists()
    exists = tmp_path / 'exists.pth'
    exists.write_bytes(b'keep me')
    torch.save(layouts.torchvision_ckpt(), tmp_path / 'tv.pth')
    proc = run_tool(str(ROOT / 'tools/convert_pretrained.py'), str(tmp_path / 'tv.pth'), str(exists), check=False)
    assert proc.returncode != 0 and 'already exists' in proc.stderr
    assert exists.read_bytes() == b'keep me'


def test_layouts_have_the_keys_of_the_real_mmpretrain_models():
    """The hand-written layouts above carry exactly the keys mmpretrain models save."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    r50 = dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'))
    configs = {
        'mmpretrain': dict(type='ImageClassifier', backbone=r50, neck=dict(type='GlobalAveragePooling'),
                           head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048)),
        'mmpretrain_simclr': dict(type='SimCLR', backbone=r50, neck=dict(
            type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=128, num_layers=2,
            with_avg_pool=True), head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'))),
        'mmpretrain_moco': dict(type='MoCo', queue_len=64, feat_dim=128, momentum=0.001, backbone=r50, neck=dict(
            type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128, with_avg_pool=True),
            head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'))),
    }
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for layout, cfg in configs.items():
            real = set(MODELS.build(cfg).state_dict())
            assert set(layouts.ALL[layout]()['state_dict']) == real, layout


def _mmpretrain_model(kind: str):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    r50 = dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'))
    cfg = {'classifier': dict(type='ImageClassifier', backbone=r50, neck=dict(type='GlobalAveragePooling'),
                              head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048)),
           'mocov2': dict(type='MoCo', queue_len=64, feat_dim=128, momentum=0.001, backbone=r50, neck=dict(
               type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128, with_avg_pool=True),
               head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss')))}[kind]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


@pytest.mark.parametrize('kind, layout', [('classifier', 'torchvision'), ('mocov2', 'moco')])
def test_whole_model_weights_load_as_the_seed_code_loads_them(kind, layout, tmp_path):
    src, dst = tmp_path / 'src.pth', tmp_path / 'model.pth'
    source = layouts.ALL[layout](seed=4)
    torch.save(source, src)
    out = run_tool(str(ROOT / 'tools/convert_pretrained.py'), str(src), str(dst), '--model', kind)
    assert f'{kind} model (for load_from)' in out.stdout
    model = _mmpretrain_model(kind)
    from mmengine.runner.checkpoint import load_checkpoint
    load_checkpoint(model, str(dst), map_location='cpu', strict=False)
    sd = model.state_dict()
    written = torch.load(dst, weights_only=True)['state_dict']
    assert set(sd) - set(written) <= {'queue', 'queue_ptr', 'encoder_k.steps'}  # everything else loaded
    if kind == 'classifier':
        assert torch.equal(sd['head.fc.weight'], source['fc.weight'])
        assert torch.equal(sd['backbone.layer4.2.conv3.weight'], source['layer4.2.conv3.weight'])
    else:
        q = source['state_dict']
        for enc in ('backbone.', 'encoder_k.module.0.'):  # the query encoder in both, never the file's key encoder
            assert torch.equal(sd[enc + 'layer4.2.conv3.weight'], q['module.encoder_q.layer4.2.conv3.weight'])
        for neck in ('neck.', 'encoder_k.module.1.'):
            assert torch.equal(sd[neck + 'mlp.2.weight'], q['module.encoder_q.fc.2.weight'])


def test_whole_model_conversion_refuses_a_file_without_the_head(tmp_path):
    src = tmp_path / 'simclr.pth'
    torch.save(layouts.simclr_converted_ckpt(), src)
    proc = run_tool(str(ROOT / 'tools/convert_pretrained.py'), str(src), str(tmp_path / 'o.pth'),
                    '--model', 'mocov2', check=False)
    assert proc.returncode != 0 and '--model mocov2 needs an official MoCo v2 file with its MLP head' in proc.stderr
    assert not (tmp_path / 'o.pth').exists()
