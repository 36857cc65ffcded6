"""Canonical parameter names and the selection of prunable parameters.

Canonical names are torchvision's ResNet names without any prefix
(``layer1.0.conv1.weight``). OpenMMLab backbones use the same names under a
prefix (``backbone.``, ``encoder_k.module.0.``, ``momentum_encoder.module.0.``),
so one ticket binds to every copy of the backbone in a model.
"""
from __future__ import annotations

import fnmatch
import re
from typing import Container, Iterable, Mapping

import torch

# Top-level children of a torchvision-style ResNet. The first path segment that
# is one of these marks where the backbone's own names start.
_ROOT_SEGMENT = re.compile(r'^(conv1|bn1|layer\d+|fc|stem)$')

STEM_CONV = 'conv1.weight'
DEFAULT_EXCLUDE = (STEM_CONV,)


def split_canonical(name: str) -> tuple[str, str] | None:
    """Split a full parameter name into ``(prefix, canonical)``.

    ``'backbone.layer1.0.conv1.weight'`` -> ``('backbone.', 'layer1.0.conv1.weight')``.
    Returns None for names that are not inside a ResNet (necks, heads).
    """
    parts = name.split('.')
    for i, seg in enumerate(parts[:-1]):
        if _ROOT_SEGMENT.match(seg):
            prefix = '.'.join(parts[:i])
            return (prefix + '.' if prefix else ''), '.'.join(parts[i:])
    return None


def backbone_split(name: str, keys: Container[str] = ()) -> tuple[str, str] | None:
    """``split_canonical(name)`` for a parameter inside a ResNet; None outside every ResNet: no ResNet
    segment in the name, or a prefixed name that a ticket's ``keys`` hold as it is (a whole-model
    ticket's ``head.fc.weight``, whose ``fc`` is no ResNet's: canonical keys never carry a prefix)."""
    split = split_canonical(name)
    return None if split is None or (split[0] and name in keys) else split


def mask_key(name: str, keys: Container[str] = ()) -> str:
    """The key of a parameter's mask in a ticket whose keys are ``keys``: the canonical name inside a
    ResNet, the full name outside (``backbone_split``)."""
    split = backbone_split(name, keys)
    return name if split is None else split[1]


def resnet_prefixes(names: Iterable[str]) -> set[str]:
    """The prefixes under which a model holds a ResNet body (some ``layer<N>`` inside)."""
    return {split[0] for split in map(split_canonical, names)
            if split is not None and split[1].startswith('layer')}


# The last layers of the stock heads, which whole-model pruning leaves dense (the classifier and the
# box regressors, as Girish et al., CVPR 2021): two-stage and RetinaNet detectors, Mask R-CNN's mask
# logits, mmseg's decode and auxiliary heads, mmpretrain's linear classifier head.
FINAL_LAYERS = ('*.rpn_cls.*', '*.rpn_reg.*', '*.fc_cls.*', '*.fc_reg.*', '*.retina_cls.*', '*.retina_reg.*',
                '*.conv_logits.*', '*.conv_seg.*', 'head.fc.*')


def pattern_list(value, option: str, allow_none: bool = False) -> tuple[str, ...] | None:
    """A pattern-list option, checked the same way everywhere: a bare string is one pattern
    (``'layer4*'`` means ``['layer4*']``, never its characters, whose ``'*'`` would match every name);
    None is refused naming ``option`` unless ``allow_none`` (then it stays None); anything else must be
    strings."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f'{option}: expected a list of name patterns, got None ([] for none)')
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f'{option}: expected a list of name patterns, got {value!r}') from None
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise ValueError(f'{option}: every pattern must be a string, got {bad[0]!r} in {list(items)!r}')
    return items


def select_model_prunable(tensors: Mapping[str, torch.Tensor],
                          keep_dense: Iterable[str] = FINAL_LAYERS) -> dict[str, torch.Tensor]:
    """The prunable weights outside every ResNet (necks, heads), keyed by full name: conv and linear
    weights (``*.weight`` of 2 or more dimensions) that match no ``keep_dense`` pattern. An ``fc``
    under a prefix that holds no ResNet body (mmpretrain's ``head.fc``) is outside."""
    keep_dense = pattern_list(keep_dense, 'keep_dense')
    bodies = resnet_prefixes(tensors)

    def outside(full: str) -> bool:
        split = split_canonical(full)
        return split is None or split[0] not in bodies
    return {full: t for full, t in tensors.items()
            if full.endswith('.weight') and t.dim() >= 2 and outside(full) and not matches_any(full, keep_dense)}


def canonical_name(name: str) -> str | None:
    """The canonical name of a full parameter name, or None outside a ResNet."""
    split = split_canonical(name)
    return None if split is None else split[1]


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def select_prunable(tensors: Mapping[str, torch.Tensor],
                    include: Iterable[str] = ('*',),
                    exclude: Iterable[str] = DEFAULT_EXCLUDE,
                    prefix: str | None = None) -> dict[str, torch.Tensor]:
    """Pick the prunable conv weights of one backbone, keyed by canonical name.

    ``tensors`` is a state dict or ``dict(model.named_parameters())``. A
    parameter is prunable when it is a 4-D ``*.weight`` (a conv kernel) inside
    a ResNet, its canonical name matches an ``include`` pattern and no
    ``exclude`` pattern (fnmatch-style, on canonical names). By default the
    stem conv is excluded, as in the paper; BatchNorm, biases and fc never
    qualify. ``prefix`` restricts the search to one copy of the backbone
    (e.g. ``'backbone.'``); by default the first copy found is used.
    """
    include, exclude = pattern_list(include, 'include'), pattern_list(exclude, 'exclude')
    chosen: dict[str, torch.Tensor] = {}
    chosen_prefix = prefix
    for full, tensor in tensors.items():
        split = split_canonical(full)
        if split is None or tensor.dim() != 4 or not full.endswith('.weight'):
            continue
        pre, canon = split
        if chosen_prefix is None:
            chosen_prefix = pre
        if pre != chosen_prefix:
            continue
        if matches_any(canon, include) and not matches_any(canon, exclude):
            chosen[canon] = tensor
    return chosen


def strip_known_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys that start with ``prefix``, with the prefix removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in state.items() if k.startswith(prefix)}


# blocks per stage and bottleneck-ness of the torchvision ResNets
DEPTH_BY_LAYOUT = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34, ((3, 4, 6, 3), True): 50,
                   ((3, 4, 23, 3), True): 101, ((3, 8, 36, 3), True): 152}


def infer_arch(shapes: Mapping[str, tuple[int, ...]]) -> str:
    """Name the ResNet a set of canonical conv shapes comes from.

    ``resnet50`` for the standard widths; a narrowed copy of the same topology
    (``base_channels`` != 64) reads ``resnet50-w16``. Falls back to
    ``'unknown'`` when the names are not a torchvision-style ResNet.
    """
    blocks: dict[int, set[int]] = {}
    bottleneck = False
    for name in shapes:
        m = re.match(r'^layer(\d+)\.(\d+)\.conv(\d)\.weight$', name)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
            bottleneck |= m.group(3) == '3'
    if not blocks:
        return 'unknown'
    layout = tuple(len(blocks[i]) for i in sorted(blocks))
    first = shapes.get('layer1.0.conv1.weight')
    width = first[1] if first else 64  # in-channels of the first block = stem width
    suffix = '' if width == 64 else f'-w{width}'
    depth = DEPTH_BY_LAYOUT.get((layout, bottleneck)) if sorted(blocks) == [1, 2, 3, 4] else None
    if depth is not None:
        return f'resnet{depth}{suffix}'
    # some stages only (include=['layer4.*']): the depths whose blocks agree on those stages
    fits = [d for (full, neck), d in DEPTH_BY_LAYOUT.items() if neck == bottleneck
            and all(0 < i <= len(full) and full[i - 1] == len(blocks[i]) for i in blocks)]
    if not fits:
        return 'resnet-' + '-'.join(map(str, layout))
    stages = ', '.join(f'layer{i}' for i in sorted(blocks))
    return f'resnet{"/".join(map(str, sorted(fits)))}{suffix} ({stages} only)'
