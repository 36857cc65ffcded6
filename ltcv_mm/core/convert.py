"""Pre-trained checkpoints to canonical ResNet backbone weights.

Canonical weights are a torchvision ResNet state dict without ``fc``: the
keys the ResNet backbones of mmpretrain, mmdet and mmseg (plain stem) load
with nothing missing and nothing unexpected.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from .names import strip_known_prefix

FORMATS = ('torchvision', 'moco', 'simclr', 'mmpretrain', 'mmselfsup')


class UnknownLayoutError(ValueError):
    """A checkpoint whose key layout is none of the known pre-training formats."""


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


def _has_resnet(keys, prefix: str = '') -> bool:
    return prefix + 'conv1.weight' in keys and prefix + 'layer1.0.conv1.weight' in keys


def _meta_mentions(ckpt: Mapping, word: str) -> bool:
    meta = ckpt.get('meta')
    return isinstance(meta, Mapping) and any(word in str(k) or word in str(v) for k, v in meta.items())


def detect_format(ckpt: Any, where: str = '<checkpoint>') -> str:
    """Name the layout of a loaded checkpoint (one of FORMATS)."""
    if _is_tensor_dict(ckpt) and _has_resnet(ckpt):
        return 'torchvision'
    sd = ckpt.get('state_dict') if isinstance(ckpt, Mapping) else None
    if isinstance(sd, Mapping):
        if _has_resnet(sd, 'module.encoder_q.'):
            return 'moco'
        if _has_resnet(sd):
            return 'simclr'
        if _has_resnet(sd, 'backbone.'):
            return 'mmselfsup' if _meta_mentions(ckpt, 'mmselfsup') else 'mmpretrain'
    keys = list(sd if isinstance(sd, Mapping) else ckpt if isinstance(ckpt, Mapping) else [])[:6]
    raise UnknownLayoutError(
        f'{where}: unknown checkpoint layout (first keys {keys}); known layouts: a torchvision '
        f'ResNet state dict, MoCo v2 ("state_dict" with "module.encoder_q."), SimCLR converted '
        f'("state_dict" in torchvision layout), mmpretrain / MMSelfSup ("state_dict" with "backbone.")')


def _state_dict(ckpt: Mapping, fmt: str, where: str) -> Mapping[str, torch.Tensor]:
    if fmt == 'torchvision':
        # Also accept a torchvision layout saved under 'state_dict'.
        return ckpt['state_dict'] if 'state_dict' in ckpt and isinstance(ckpt['state_dict'], Mapping) else ckpt
    if not isinstance(ckpt.get('state_dict'), Mapping):
        raise UnknownLayoutError(f'{where}: format {fmt!r} expects a "state_dict" entry')
    return ckpt['state_dict']


_PREFIX = {'torchvision': '', 'simclr': '', 'moco': 'module.encoder_q.',
           'mmpretrain': 'backbone.', 'mmselfsup': 'backbone.'}


def to_canonical(ckpt: Any, fmt: str = 'auto', where: str = '<checkpoint>') -> tuple[dict[str, torch.Tensor], str]:
    """Canonical backbone weights of a loaded checkpoint, and the format read.

    Drops everything outside the backbone (fc / MLP heads, necks, MoCo's key
    encoder and queue) and adds the BatchNorm ``num_batches_tracked`` buffers
    old torchvision files lack, so that strict loading sees no missing key.
    """
    if fmt == 'auto':
        fmt = detect_format(ckpt, where)
    elif fmt not in FORMATS:
        raise ValueError(f'unknown format {fmt!r}; choose auto or one of {FORMATS}')
    sd = strip_known_prefix(_state_dict(ckpt, fmt, where), _PREFIX[fmt])
    out = {k: v.detach().clone() for k, v in sd.items()
           if isinstance(v, torch.Tensor) and not k.startswith('fc.')}
    if not _has_resnet(out):
        raise UnknownLayoutError(f'{where}: read as {fmt!r} but holds no ResNet under '
                                 f'{_PREFIX[fmt]!r} (first keys {list(sd)[:6]})')
    for k in list(out):
        if k.endswith('.running_mean'):
            nbt = k[:-len('running_mean')] + 'num_batches_tracked'
            out.setdefault(nbt, torch.tensor(0, dtype=torch.long))
    return out, fmt


MODELS = ('backbone', 'classifier', 'mocov2')


def to_model_weights(ckpt: Any, model: str, fmt: str = 'auto',
                     where: str = '<checkpoint>') -> tuple[dict[str, torch.Tensor], str]:
    """Whole-model weights in mmpretrain's key layout, for ``load_from``, and the format read.

    ``classifier``: the backbone and the pre-trained 1000-way ``fc`` as
    ``head.fc`` of an ImageClassifier (a torchvision file): the seed code's
    supervised IMP keeps the pre-trained classifier. ``mocov2``: the query
    encoder with its MLP head (``neck.mlp``), copied into the momentum encoder
    (``encoder_k.module``) as the seed code's MoCo IMP loads it; the official
    file's own key encoder and queue are not used. ``backbone``: as
    ``to_canonical`` under ``backbone.``.
    """
    if model not in MODELS:
        raise ValueError(f'unknown model {model!r}; choose one of {MODELS}')
    backbone, fmt = to_canonical(ckpt, fmt, where)
    out = {'backbone.' + k: v for k, v in backbone.items()}
    if model == 'backbone':
        return out, fmt
    sd = strip_known_prefix(_state_dict(ckpt, fmt, where), _PREFIX[fmt])
    if model == 'classifier':
        if fmt != 'torchvision' or 'fc.weight' not in sd:
            raise UnknownLayoutError(f'{where}: --model classifier needs a torchvision file with its fc '
                                     f'(read as {fmt!r}, fc present: {"fc.weight" in sd})')
        out.update({'head.fc.weight': sd['fc.weight'].detach().clone(), 'head.fc.bias': sd['fc.bias'].detach().clone()})
        return out, fmt
    head = {f'mlp.{i}.{p}': sd.get(f'fc.{i}.{p}') for i in (0, 2) for p in ('weight', 'bias')}
    if fmt != 'moco' or any(v is None for v in head.values()):
        raise UnknownLayoutError(f'{where}: --model mocov2 needs an official MoCo v2 file with its MLP head '
                                 f'(module.encoder_q.fc.0 / fc.2; read as {fmt!r})')
    neck = {k: v.detach().clone() for k, v in head.items()}
    out.update({'neck.' + k: v for k, v in neck.items()})
    out.update({'encoder_k.module.0.' + k: v.clone() for k, v in backbone.items()})
    out.update({'encoder_k.module.1.' + k: v.clone() for k, v in neck.items()})
    return out, fmt
