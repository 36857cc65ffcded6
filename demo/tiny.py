"""Shrink a stock config for a small CPU run: narrower layers, smaller images, local data.

The model keeps its structure and layer names (a ResNet-50 stays a ResNet-50
with fewer channels per layer, so its tickets are real ResNet-50 tickets);
pipelines keep their transforms with smaller scales. Used by the demo and the
tests on stock configs loaded with ``Config.fromfile``.
"""
from __future__ import annotations

from typing import Any, Iterator

EXPANSION = 4  # Bottleneck: a stage's output is 4x its width


def _dicts(node: Any) -> Iterator[dict]:
    """Every dict inside a config tree, depth first."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _dicts(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _dicts(v)


def stage_channels(width: int) -> list[int]:
    return [width * EXPANSION * 2 ** i for i in range(4)]


def narrow_model(model: dict, width: int = 8, feat: int = 32) -> dict:
    """ResNet-50 with ``width`` channels in its first stage (64 in the original) and the
    necks and heads of detectors and segmentors at ``feat`` channels, in place."""
    backbone = model['backbone']
    inner = backbone.get('backbone', backbone)  # SparseBackbone's nested form, or the flat one
    inner['base_channels'] = width
    inner['stem_channels'] = width
    outs = stage_channels(width)
    neck = model.get('neck')
    if isinstance(neck, dict) and isinstance(neck.get('in_channels'), (list, tuple)):  # FPN
        neck['in_channels'] = [outs[i] for i in inner.get('out_indices', (0, 1, 2, 3))]
        neck['out_channels'] = feat
    elif isinstance(neck, dict) and 'in_channels' in neck:  # SimCLR / MoCo projection MLP
        neck['in_channels'] = outs[3]
        if 'hid_channels' in neck:
            neck['hid_channels'] = 4 * feat
    head = model.get('head')
    if isinstance(head, dict) and 'in_channels' in head:  # classifier
        head['in_channels'] = outs[3]
    for key in ('rpn_head', 'bbox_head'):  # RPN, RetinaNet
        if isinstance(model.get(key), dict):
            model[key].update(in_channels=feat, feat_channels=feat)
    roi = model.get('roi_head')
    if isinstance(roi, dict):
        for extractor, head_key in (('bbox_roi_extractor', 'bbox_head'), ('mask_roi_extractor', 'mask_head')):
            if isinstance(roi.get(extractor), dict):
                roi[extractor]['out_channels'] = feat
                roi[head_key]['in_channels'] = feat
        if 'fc_out_channels' in roi.get('bbox_head', {}):
            roi['bbox_head']['fc_out_channels'] = 2 * feat
        if isinstance(roi.get('mask_head'), dict):
            roi['mask_head']['conv_out_channels'] = feat
    decode = model.get('decode_head')
    if isinstance(decode, dict):  # DeepLabV3+ (ASPP on the last stage, low-level features of stage 1)
        decode.update(in_channels=outs[decode.get('in_index', 3)], channels=feat)
        if 'c1_in_channels' in decode:
            decode.update(c1_in_channels=outs[0], c1_channels=max(feat // 4, 4))
    aux = model.get('auxiliary_head')
    if isinstance(aux, dict):
        aux.update(in_channels=outs[aux.get('in_index', 2)], channels=feat // 2)
    return model


def _short_side(scale, size: int):
    factor = size / min(scale)
    return tuple(int(round(s * factor)) for s in scale)


def scale_images(cfg: dict, size: int) -> dict:
    """Every resize in the data pipelines brings the short side to ``size``; crops and pads
    (and the segmentor's batch size) become ``size`` x ``size``, in place."""
    for d in _dicts({k: cfg.get(k) for k in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'model')}):
        t = d.get('type')
        if t in ('Resize', 'RandomResize', 'RandomChoiceResize') and 'scale' in d:
            scale = d['scale']
            if isinstance(scale, (list, tuple)) and scale and isinstance(scale[0], (list, tuple)):
                d['scale'] = [_short_side(s, size) for s in scale]
            elif isinstance(scale, (list, tuple)):
                d['scale'] = _short_side(scale, size)
        elif t in ('RandomResizedCrop', 'ResizeEdge', 'ResizeShortestEdge') and isinstance(d.get('scale'), int):
            d['scale'] = size
        elif t == 'CenterCrop' and isinstance(d.get('crop_size'), int):
            d['crop_size'] = size
        elif t == 'RandomCrop' and isinstance(d.get('crop_size'), (list, tuple)):
            d['crop_size'] = (size, size)
        elif t == 'Pad' and d.get('size') is not None:
            d['size'] = (size, size)
        elif t in ('ltcv.PadIfNeeded', 'ltcv.LetterBox'):
            d['size'] = size
        elif t == 'SegDataPreProcessor' and d.get('size') is not None:
            d['size'] = (size, size)
    return cfg


def datasets(loader: dict) -> list[dict]:
    """The leaf datasets of a dataloader (inside ConcatDataset / RepeatDataset wrappers)."""
    out, todo = [], [loader['dataset']]
    while todo:
        ds = todo.pop()
        if 'datasets' in ds:
            todo.extend(ds['datasets'])
        elif 'dataset' in ds:
            todo.append(ds['dataset'])
        else:
            out.append(ds)
    return out


def for_cpu(cfg: dict, batch_size: int = 2) -> dict:
    """Small batches in the main process (no workers to fork on 2 cores), in place."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict):
            loader.update(batch_size=batch_size if key == 'train_dataloader' else 1,
                          num_workers=0, persistent_workers=False)
    return cfg


def set_num_classes(model: dict, n: int) -> dict:
    """Every head's ``num_classes`` (classifier, RetinaNet, Faster / Mask R-CNN), in place."""
    for d in _dicts({k: v for k, v in model.items() if k.endswith('head')}):
        if 'num_classes' in d:
            d['num_classes'] = n
    return model


def use_local_data(cfg: dict, data_root: str, classes: tuple[str, ...] | None = None) -> dict:
    """Point every dataset of the train / val / test loaders at ``data_root`` (same layout
    below it as the stock config expects), with ``classes`` as their metainfo, and the
    evaluators that read annotation files at the same files, in place."""
    root = str(data_root).rstrip('/') + '/'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not isinstance(cfg.get(key), dict):
            continue
        for ds in datasets(cfg[key]):
            ds['data_root'] = root
            if classes is not None:
                ds['metainfo'] = dict(classes=tuple(classes))
    for key in ('val_evaluator', 'test_evaluator'):
        for ev in _dicts(cfg.get(key)):
            if isinstance(ev.get('ann_file'), str):  # CocoMetric: data_root + 'annotations/...'
                ev['ann_file'] = root + 'annotations/' + ev['ann_file'].split('annotations/', 1)[-1]
    return cfg
