"""Checkpoints written in the exact key layouts of the real pre-trained files.

The tests never download: they build a random ResNet-50 and save it the way
each source publishes its weights.
"""
from __future__ import annotations

import torch
import torchvision


def torchvision_ckpt(seed: int = 0, old: bool = False) -> dict:
    """torchvision's resnet50 file; ``old`` mimics resnet50-19c8e357.pth (no num_batches_tracked)."""
    torch.manual_seed(seed)
    sd = torchvision.models.resnet50().state_dict()
    if old:
        sd = {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}
    return sd


def _mlp(prefix: str, dims=(2048, 2048, 128)) -> dict:
    return {f'{prefix}fc.0.weight': torch.randn(dims[1], dims[0]) * 0.01, f'{prefix}fc.0.bias': torch.zeros(dims[1]),
            f'{prefix}fc.2.weight': torch.randn(dims[2], dims[1]) * 0.01, f'{prefix}fc.2.bias': torch.zeros(dims[2])}


def _momentum_copy(v: torch.Tensor) -> torch.Tensor:
    """The key encoder's weights: like the query encoder's, but not equal (a converter reading the wrong
    encoder must fail the tests)."""
    return v + 0.5 if v.is_floating_point() else v.clone()


def moco_official_ckpt(seed: int = 0) -> dict:
    """facebookresearch/moco's moco_v2_800ep_pretrain.pth.tar layout."""
    tv = {k: v for k, v in torchvision_ckpt(seed).items() if not k.startswith('fc.')}
    sd = {}
    for enc in ('encoder_q', 'encoder_k'):
        copy = (lambda v: v.clone()) if enc == 'encoder_q' else _momentum_copy
        sd.update({f'module.{enc}.{k}': copy(v) for k, v in tv.items()})
        sd.update(_mlp(f'module.{enc}.'))
    sd['module.queue'] = torch.randn(128, 64)
    sd['module.queue_ptr'] = torch.zeros(1, dtype=torch.long)
    return {'epoch': 800, 'arch': 'resnet50', 'state_dict': sd,
            'optimizer': {'state': {}, 'param_groups': [{'lr': 0.03, 'params': [0, 1]}]}}


def simclr_converted_ckpt(seed: int = 0) -> dict:
    """SimCLR v1 weights converted from TF to torchvision (the paper's SimCLR file)."""
    return {'state_dict': torchvision_ckpt(seed)}


def _openmmlab(sd: dict, scope: str) -> dict:
    meta = {'mmengine_version': '0.10.7', 'epoch': 100, 'iter': 1000, 'seed': 0,
            'experiment_name': 'x', 'cfg': f"default_scope = '{scope}'\nmodel = dict(type='X')\n"}
    return {'meta': meta, 'state_dict': sd}


def _backbone(seed: int) -> dict:
    return {'backbone.' + k: v for k, v in torchvision_ckpt(seed).items() if not k.startswith('fc.')}


def mmpretrain_supervised_ckpt(seed: int = 0) -> dict:
    sd = _backbone(seed)
    sd.update({'head.fc.weight': torch.randn(1000, 2048) * 0.01, 'head.fc.bias': torch.zeros(1000)})
    return _openmmlab(sd, 'mmpretrain')


def mmpretrain_simclr_ckpt(seed: int = 0) -> dict:
    sd = _backbone(seed)
    for i, (o, c) in enumerate([(2048, 2048), (128, 2048)]):
        sd[f'neck.fc{i}.weight'] = torch.randn(o, c) * 0.01
        sd.update({f'neck.bn{i}.{k}': v for k, v in torch.nn.BatchNorm1d(o).state_dict().items()})
    return _openmmlab(sd, 'mmpretrain')


def _moco_state(seed: int) -> dict:
    """mmpretrain's MoCo (and MMSelfSup 1.x's, which it inherited): key encoder 'encoder_k'."""
    sd = _backbone(seed)
    mlp = {'mlp.0.weight': torch.randn(2048, 2048) * 0.01, 'mlp.0.bias': torch.zeros(2048),
           'mlp.2.weight': torch.randn(128, 2048) * 0.01, 'mlp.2.bias': torch.zeros(128)}
    sd.update({'neck.' + k: v for k, v in mlp.items()})
    sd.update({'encoder_k.module.0.' + k[len('backbone.'):]: _momentum_copy(v) for k, v in _backbone(seed).items()})
    sd.update({'encoder_k.module.1.' + k: v.clone() for k, v in mlp.items()})
    sd['encoder_k.steps'] = torch.tensor([100])
    sd['queue'] = torch.randn(128, 64)
    sd['queue_ptr'] = torch.zeros(1, dtype=torch.long)
    return sd


def mmpretrain_moco_ckpt(seed: int = 0) -> dict:
    return _openmmlab(_moco_state(seed), 'mmpretrain')


def mmselfsup_moco_ckpt(seed: int = 0) -> dict:
    """MMSelfSup 1.x MoCo v2: the same keys; its scope shows in the saved config."""
    return _openmmlab(_moco_state(seed), 'mmselfsup')


ALL = {
    'torchvision': torchvision_ckpt,
    'moco': moco_official_ckpt,
    'simclr': simclr_converted_ckpt,
    'mmpretrain': mmpretrain_supervised_ckpt,
    'mmpretrain_simclr': mmpretrain_simclr_ckpt,
    'mmpretrain_moco': mmpretrain_moco_ckpt,
    'mmselfsup': mmselfsup_moco_ckpt,
}
