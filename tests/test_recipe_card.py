"""The recipe card: every paper config (configs/paper/), merged with its stock bases, against the table
read from the seed code (tests/seed_recipe_card.py), field by field."""
import fnmatch
import re
from pathlib import Path

import pytest
from mmengine.config import Config

import ltcv_mm  # noqa: F401
from demo.tiny import datasets
from ltcv_mm.core.names import DEFAULT_EXCLUDE

from helpers import ROOT
from seed_recipe_card import CARD

PAPER = ROOT / 'configs/paper'


def _imp(cfg) -> dict:
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'ltcv.IMPHook']
    assert len(hooks) == 1
    return hooks[0]


def _schedule(cfg) -> tuple[str, int]:
    """The schedule's name and its warm-up epochs."""
    warmup, name = 0, None
    for s in cfg.param_scheduler:
        if s['type'] == 'LinearLR':
            assert s.get('convert_to_iter_based') and s['begin'] == 0  # per iteration, from the start
            warmup = s['end']
        elif s['type'] == 'ConstantLR':
            assert s['factor'] == 1.0
            name = 'constant'
        elif s['type'] == 'MultiStepLR':
            name = f'multistep {list(s["milestones"])} x{s["gamma"]}'
        elif s['type'] == 'PolyLR':
            name = f'poly {s["power"]}'
        elif s['type'] == 'CosineAnnealingLR':
            name = 'cosine'
        elif s['type'] == 'ltcv.SawtoothCosineLR':
            assert s.get('convert_to_iter_based')
            name, warmup = f'cosine stepped at t = {s.get("epoch_stride", 1):g} N epoch + i', s['warmup_epochs']
    return name, warmup


def _gpus(path: Path) -> int:
    found = re.search(r'_(\d+)xb(\d+)', path.name)
    return int(found.group(1)) if found else 1  # the downstream configs run on one GPU, as the seed


def _pipeline(loader) -> list:
    """A leaf dataset's pipeline (the leaves of a paper config share one; train_pipeline says if not)."""
    return datasets(loader)[0]['pipeline']


def _describe(t: dict) -> list[str]:
    kind = t['type'].split('.')[-1]
    if kind in ('LoadImageFromFile', 'LoadAnnotations', 'PackInputs', 'PackSegInputs', 'PackDetInputs'):
        return []
    if kind == 'MultiView':
        return [d for view in t['transforms'] for step in view for d in _describe(step)]
    if kind == 'RandomApply':
        return [f'{d} p{t["prob"]}' for step in t['transforms'] for d in _describe(step)]
    if kind == 'RandomResizedCrop':
        lo, hi = t.get('crop_ratio_range', (0.08, 1.0))
        return [f'RandomResizedCrop({t["scale"]}, {lo:g}-{hi:g})']
    if kind == 'RandomFlip':
        return [f'RandomFlip({t["prob"]})']
    if kind == 'RandomCrop':
        crop = t['crop_size'] if isinstance(t['crop_size'], int) else t['crop_size'][0]
        return [f'RandomCrop({crop}, pad {t["padding"]})' if t.get('padding') else f'RandomCrop({crop})']
    if kind == 'ColorJitter':
        return [f'ColorJitter({t["brightness"]}, {t["contrast"]}, {t["saturation"]}, {t["hue"]})']
    if kind == 'RandomGrayscale':
        return [f'RandomGrayscale p{t["prob"]}']
    if kind == 'GaussianBlur':
        lo, hi = t['magnitude_range']
        return [f'GaussianBlur({lo}-{hi}) p{t["prob"]}']
    if kind == 'Resize':
        return [f'Resize({t["scale"][0]}, {t["scale"][1]})']
    if kind == 'RandomRescale':
        lo, hi = t['ratio_range']
        return [f'RandomRescale({lo}-{hi})']
    return [kind]


def _weights(cfg) -> str:
    backbone = cfg.model.backbone
    init = backbone.get('init_cfg')
    kind = backbone.get('wraps', backbone['type']).split('.')[-1]
    if cfg.get('load_from'):
        return ('query encoder with its MLP head in both encoders (load_from)' if cfg.model.type == 'MoCo'
                else 'whole model with its pre-trained fc (load_from)')
    steps = init if isinstance(init, list) else [init] if isinstance(init, dict) else []
    if any(step.get('type') == 'Pretrained' for step in steps):
        if kind == 'ResNet_CIFAR':  # a 3x3 stem: the pre-trained 7x7 conv1 cannot load
            return 'backbone without conv1 (init_cfg)'
        if cfg.model.type == 'ImageClassifier':
            return 'backbone with its stem (init_cfg)'
        return 'backbone (init_cfg)'
    return 'random init'


def _range(dataset) -> tuple[int, int]:
    assert dataset['type'] == 'ltcv.IndexRange'
    return dataset['start'], dataset['stop']


def _split(cfg) -> dict:
    """Normalisation and the train / val / test split of a small-dataset config."""
    out = dict(mean=cfg.data_preprocessor.get('mean'), std=cfg.data_preprocessor.get('std'))
    if cfg.get('val_dataloader') and cfg.val_dataloader.dataset['type'] == 'ltcv.IndexRange':
        out['train'], out['val'] = _range(cfg.train_dataloader.dataset), _range(cfg.val_dataloader.dataset)
        test = cfg.test_dataloader.dataset
        out['test'] = 'test split' if test.get('split') == 'test' or test.get('ann_file') == 'meta/test.txt' \
            else 'other'
    return out


def _imp_fields(cfg) -> dict:
    imp = _imp(cfg)
    loop = cfg.train_cfg
    return dict(
        rate=imp['rate'], strategy=imp.get('strategy', 'global_magnitude'),
        pruned='every conv but the stem conv1' if tuple(imp.get('exclude', DEFAULT_EXCLUDE)) == ('conv1.weight',)
        and tuple(imp.get('include', ('*',))) == ('*',) else 'other',
        prune_first=imp.get('prune_first', False), trained_prunings=imp['rounds'],
        rewind=imp['rewind'], rewind_at=imp.get('rewind_at', 0), rewind_keys=list(imp.get('rewind_keys', ['*'])),
        restart_optimizer=imp.get('restart_optimizer', True), test_at_best=imp.get('test_at_best'),
        **({'state_iterations': loop.max_iters} if loop.get('type') == 'IterBasedTrainLoop'
           else {'state_epochs': loop.max_epochs}))


def _stem_init(backbone) -> str:
    """How the stem conv1 is initialised, read from the backbone's init_cfg with mmengine's order (the
    other initialisers, then Pretrained, which cannot load a 7x7 stem into the 3x3 one): mmpretrain's
    ResNet default is Kaiming (fan_out, normal) on every Conv2d; an ``override`` named conv1 wins."""
    init = backbone.get('init_cfg', 'default')
    if init == 'default':
        return 'Kaiming fan_out'
    stem = 'PyTorch default'  # the module's own reset_parameters
    for step in init if isinstance(init, list) else [init]:
        override = step.get('override') or {}
        if override.get('name') == 'conv1':
            stem = _spell(dict(override, name=None))
        elif step['type'] == 'Kaiming' and 'Conv2d' in step.get('layer', ()):
            stem = 'Kaiming fan_out' if step.get('mode', 'fan_out') == 'fan_out' and \
                step.get('distribution', 'normal') == 'normal' else _spell(step)
    return {"Kaiming(a=2.23606797749979, distribution='uniform', mode='fan_in', name=None, "
            "nonlinearity='leaky_relu')": 'PyTorch default'}.get(stem, stem)


def _classification_fields(cfg, path: Path) -> dict:
    backbone = cfg.model.backbone
    out = dict(_split(cfg), weights=_weights(cfg))
    if 'transfer' in path.parts:
        out.update(epochs=cfg.train_cfg.max_epochs, mode=backbone.mode,
                   save_best=cfg.default_hooks.checkpoint.get('save_best'))
        if backbone.get('wraps', '').endswith('ResNet_CIFAR'):
            out['stem_init'] = _stem_init(backbone)
        return out
    out['zero_init_residual'] = backbone.get('zero_init_residual', True)
    if backbone['type'] == 'ResNet_CIFAR':
        out['stem'] = '3x3 stride 1, no max-pool'
        out['stem_init'] = _stem_init(backbone)
        out['depth'] = backbone.depth
    if cfg.model.type in ('SimCLR', 'MoCo'):
        out['temperature'] = cfg.model.head.temperature
        out['normalise'] = cfg.data_preprocessor.get('std') != [255.0, 255.0, 255.0]
        out['shuffle'] = cfg.train_dataloader.sampler.get('shuffle', True)
    if cfg.model.type == 'SimCLR' and cfg.model.neck.type == 'MoCoV2Neck':  # Linear (bias) - ReLU - Linear (bias)
        neck = cfg.model.neck
        out['head'] = f'Linear-ReLU-Linear ({neck.in_channels}-{neck.hid_channels}-{neck.out_channels}), biases, ' \
                      f'no BatchNorm'
    if cfg.model.type == 'MoCo':
        out['queue'], out['key_momentum'] = cfg.model.queue_len, round(1 - cfg.model.momentum, 6)
    if cfg.model.type == 'ImageClassifier' and 'visda' in path.name:
        val = [t for t in cfg.val_dataloader.dataset.pipeline if t['type'] == 'Resize']
        out['val_resize'] = tuple(val[0]['scale'])
    return out


def _segmentation_fields(cfg) -> dict:
    backbone, optim = cfg.model.backbone, cfg.optim_wrapper.optimizer
    stride = 4  # the stem: a stride-2 conv and a stride-2 max-pool
    for s in backbone['strides'][1:]:
        stride *= s
    return dict(iterations=cfg.train_cfg.max_iters, output_stride=stride,
                aspp_dilations=tuple(cfg.model.decode_head.dilations[1:]),
                auxiliary_head=cfg.model.get('auxiliary_head') is not None,
                backbone_lr=optim['lr'] * cfg.optim_wrapper.paramwise_cfg.custom_keys['backbone']['lr_mult'],
                backbone_bn_momentum=backbone.norm_cfg.get('momentum', 0.1),
                train_set='VOC2012 train' if cfg.train_dataloader.dataset.ann_file ==
                'ImageSets/Segmentation/train.txt' else 'other',
                crop=cfg.model.data_preprocessor.size[0], val_interval=cfg.train_cfg.val_interval)


def _detection_fields(cfg) -> dict:
    backbone = cfg.model.backbone
    cosine = [s for s in cfg.param_scheduler if 'eta_min' in s][0]
    sets = [d['ann_file'].split('/')[0] + ' ' + d['ann_file'].split('/')[-1][:-4]
            for d in cfg.train_dataloader.dataset.datasets]
    resize = [t for t in _pipeline(cfg.train_dataloader) if t['type'] in ('Resize', 'ltcv.LetterBox')][0]
    return dict(epochs=cfg.train_cfg.max_epochs, lr_end=cosine['eta_min'],
                image_size=resize['size'] if 'size' in resize else max(resize['scale']),
                frozen_stages=backbone.frozen_stages, norm_eval=backbone.norm_eval, train_set=' + '.join(sets),
                test_set=cfg.val_dataloader.dataset.ann_file.split('/')[0] + ' test')


def _plain(v):
    """Tuples as lists, recursively: the card does not care which sequence type a config uses."""
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in sorted(v.items())}
    return v


def _spell(t: dict) -> str:
    """A transform, evaluator, loss or module config, with every argument: Type(k=v, ...)."""
    args = {k: v for k, v in t.items() if k not in ('type', '_scope_')}
    if 'transforms' in args:  # MultiView (a list of views) or RandomApply (a list of transforms)
        inner = args.pop('transforms')
        args['transforms'] = [[_spell(x) for x in view] if isinstance(view, (list, tuple)) else _spell(view)
                              for view in inner]
    body = ', '.join(f'{k}={_plain(v)!r}' if k != 'transforms' else f'{k}={v}' for k, v in sorted(args.items()))
    return f'{str(t.get("type", "?")).split(".")[-1]}({body})'


def _pipeline_of(loader) -> list | str:
    """Every step of the loader's pipeline; one list when all its datasets share it."""
    spelled = [[_spell(t) for t in d['pipeline']] for d in datasets(loader)]
    if all(p == spelled[0] for p in spelled):
        return spelled[0]
    return spelled


def _channels(cfg, loader) -> str:
    """The channel order the network sees: mmcv's LoadImageFromFile decodes BGR, the array readers
    (CIFAR, MNIST) give RGB or gray; the data preprocessor's to_rgb / bgr_to_rgb swaps."""
    dp = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    leaf = datasets(loader)[0]
    decoded = 'BGR' if any(t['type'].split('.')[-1] == 'LoadImageFromFile' for t in leaf['pipeline']) \
        else 'gray' if leaf['type'] in ('FashionMNIST', 'MNIST', 'ltcv.SmallNORB') else 'RGB'
    swap = dp.get('to_rgb', dp.get('bgr_to_rgb', False))
    return {'BGR': 'RGB', 'RGB': 'BGR'}.get(decoded, decoded) if swap and decoded != 'gray' else decoded


def _losses(model) -> dict:
    """Every loss of the model's heads, with its reduction arguments."""
    out = {}
    for name in ('head', 'decode_head', 'auxiliary_head', 'rpn_head'):
        part = model.get(name)
        for key, loss in (part or {}).items():
            if key.startswith('loss'):
                out[f'{name}.{key}'] = _spell(loss)
    bbox = (model.get('roi_head') or {}).get('bbox_head') or {}
    for key, loss in bbox.items():
        if key.startswith('loss'):
            out[f'roi_head.bbox_head.{key}'] = _spell(loss)
    return out


def _widths(model) -> dict:
    """Every channel width of the neck and heads (the backbone is the ticket's, checked elsewhere)."""
    out = {}
    parts = {'neck': model.get('neck'), 'head': model.get('head'), 'decode_head': model.get('decode_head'),
             'rpn_head': model.get('rpn_head'), 'roi_head.bbox_head': (model.get('roi_head') or {}).get('bbox_head')}
    for name, part in parts.items():
        for key, value in sorted((part or {}).items()):
            if 'channels' in key:
                out[f'{name}.{key}'] = value
    return out


def _accumulation(wrapper) -> int | str:
    counts = wrapper.get('accumulative_counts', 1)
    if counts == 1:
        return 1
    summed = wrapper.get('type', '').split('.')[-1].startswith('SummedAccumulation')
    return f'{counts} batches, gradients {"summed" if summed else "averaged"}'


def _experiment_fields(cfg) -> dict:
    """Everything else that defines the experiment: the pipelines, channel order, losses, widths,
    accumulation, evaluators and sampler, spelled in full. (The launch, per-GPU batch x GPUs against
    the total batch, is tests/test_launch.py's.)"""
    model = cfg.model
    out = dict(train_pipeline=_pipeline_of(cfg.train_dataloader), channels=_channels(cfg, cfg.train_dataloader),
               losses=_losses(model), widths=_widths(model),
               accumulate=_accumulation(cfg.optim_wrapper),
               sampler=_spell(cfg.train_dataloader.sampler))
    for split in ('val', 'test'):
        if cfg.get(f'{split}_dataloader'):
            out[f'{split}_pipeline'] = _pipeline_of(cfg[f'{split}_dataloader'])
            evaluator = cfg[f'{split}_evaluator']
            out[f'{split}_evaluator'] = [_spell(e) for e in evaluator] if isinstance(evaluator, list) \
                else _spell(evaluator)
    return out


def card_of(path: Path) -> dict:
    """The card's fields as this config sets them."""
    cfg = Config.fromfile(str(path))
    optim = cfg.optim_wrapper.optimizer
    out = dict(optimizer=optim['type'].split('.')[-1], lr=optim['lr'], momentum=optim.get('momentum'),
               weight_decay=optim.get('weight_decay'))
    if 'eta' in optim:
        out['eta'] = optim['eta']
        hooked = any(h['type'] == 'ltcv.DenseNormLARSHook' for h in cfg.get('custom_hooks', []))
        out['lars_norm'] = 'dense weight' if out['optimizer'] == 'DenseNormLARS' and hooked else 'kept weights'
    out['schedule'], out['warmup_epochs'] = _schedule(cfg)
    out['total_batch'] = cfg.train_dataloader.batch_size * _gpus(path)
    out['drop_last'] = cfg.train_dataloader.get('drop_last', False)
    assert cfg.auto_scale_lr == dict(base_batch_size=out['total_batch'], enable=True)  # any GPU count
    out['augment'] = [d for t in _pipeline(cfg.train_dataloader) for d in _describe(t)]
    out.update(_experiment_fields(cfg))
    if any(h['type'] == 'ltcv.IMPHook' for h in cfg.get('custom_hooks', [])):
        out.update(_imp_fields(cfg))
    if cfg.model.type == 'EncoderDecoder':
        out.update(_segmentation_fields(cfg))
    elif cfg.model.type == 'FasterRCNN':
        out.update(_detection_fields(cfg))
    else:
        out.update(_classification_fields(cfg, path))
    return out



# Where a paper config differs from the card on purpose: (config pattern, field) -> (the config's value,
# why). Each is a row of the README's table of deviations; a value that drifts, or an entry that no longer
# differs from the card, fails as any other field does.
_FRCNN_VAL = ['LoadImageFromFile()', 'Resize(keep_ratio=True, scale=[416, 416])', 'LoadAnnotations(with_bbox=True)',
              "PackDetInputs(meta_keys=['img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'])"]
_NO_YOLOV4 = 'mmdet has no YOLOv4: Faster R-CNN R-50-FPN under the authors\' schedule'
_SEG_VAL = ['LoadImageFromFile()', 'ResizeShortestEdge(max_size=100000, scale=513)', 'LoadAnnotations()',
            'PackSegInputs()']
_WHOLE = 'mmseg restores predictions to the original image, which a centre crop would not cover'
DEVIATIONS = {
    ('*deeplabv3plus*', 'val_pipeline'): (_SEG_VAL, _WHOLE),
    ('*deeplabv3plus*', 'test_pipeline'): (_SEG_VAL, _WHOLE),
    ('*faster-rcnn*', 'train_pipeline'): (
        ['LoadImageFromFile()', 'LoadAnnotations(with_bbox=True)', 'RandomFlip(prob=0.5)', 'BoxSafeCrop(prob=0.5)',
         'BoxSafeTranslate(prob=0.5)', 'LetterBox(pad_val=128, size=416)', 'PackDetInputs()'],
        'no mixup: it weights each box\'s loss by its image\'s share of the blend, and mmdet\'s detectors take '
        'no per-box loss weights'),
    ('*faster-rcnn*', 'val_pipeline'): (_FRCNN_VAL, _NO_YOLOV4 + ' (aspect kept, no letterbox padding)'),
    ('*faster-rcnn*', 'test_pipeline'): (_FRCNN_VAL, _NO_YOLOV4 + ' (aspect kept, no letterbox padding)'),
    ('*faster-rcnn*', 'losses'): (
        {'rpn_head.loss_cls': 'CrossEntropyLoss(loss_weight=1.0, use_sigmoid=True)',
         'rpn_head.loss_bbox': 'L1Loss(loss_weight=1.0)',
         'roi_head.bbox_head.loss_cls': 'CrossEntropyLoss(loss_weight=1.0, use_sigmoid=False)',
         'roi_head.bbox_head.loss_bbox': 'L1Loss(loss_weight=1.0)'}, _NO_YOLOV4),
    ('*faster-rcnn*', 'widths'): (
        {'neck.in_channels': [256, 512, 1024, 2048], 'neck.out_channels': 256, 'rpn_head.feat_channels': 256,
         'rpn_head.in_channels': 256, 'roi_head.bbox_head.fc_out_channels': 1024,
         'roi_head.bbox_head.in_channels': 256}, _NO_YOLOV4),
}


def deviation(rel: str, field: str) -> tuple | None:
    found = [v for (pattern, f), v in DEVIATIONS.items() if f == field and fnmatch.fnmatch(rel, pattern)]
    assert len(found) <= 1, (rel, field)
    return found[0] if found else None


def differences(rel: str, ours: dict) -> dict:
    """The card's fields that the config does not follow, deviations listed above aside."""
    out = {}
    for k, v in CARD[rel].items():
        got, dev = ours.get(k, '<not set>'), deviation(rel, k)
        if dev is None and got != v:
            out[k] = (v, got)
        elif dev is not None and (got != dev[0] or got == v):
            out[k] = (v, got, f'listed deviation: {dev[0]!r}')
    return out


def test_every_paper_config_has_a_card_and_every_card_a_config():
    configs = {str(p.relative_to(PAPER)) for p in PAPER.rglob('*.py') if '_base_' not in p.parts}
    assert configs == set(CARD)


@pytest.mark.parametrize('rel', sorted(CARD))
def test_paper_config_follows_the_seed_recipe(rel):
    differ = differences(rel, card_of(PAPER / rel))
    assert not differ, f'{rel}: seed vs config: {differ}'


# Five drifts outside the card's first fields, each planted in a copy of configs/paper: the card must see them.
DRIFTS = {
    'an extra detection augmentation': (
        '_base_/faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py', "    dict(type='RandomFlip', prob=0.5),\n",
        "    dict(type='RandomFlip', prob=0.5),\n    dict(type='PhotoMetricDistortion'),\n",
        'transfer/faster-rcnn_r50-ticket_fpn_1xb8-120e_voc0712-416.py', 'train_pipeline'),
    'the segmentation head width': (
        '_base_/deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py', 'channels=256,', 'channels=512,',
        'transfer/deeplabv3plus_r50-ticket-os16_1xb4-30k_voc12-513x513.py', 'widths'),
    'the segmentation loss averaging': (
        '_base_/deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py', 'avg_non_ignore=True', 'avg_non_ignore=False',
        'task/imp_deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py', 'losses'),
    'SVHN to_rgb': ('downstream/_base_/svhn.py', 'to_rgb=True', 'to_rgb=False', 'transfer/resnet50-ticket_svhn.py',
                    'channels'),
    'SVHN drop_last': ('downstream/_base_/svhn.py', 'train_dataloader = dict(dataset=dict(start=0',
                       'train_dataloader = dict(drop_last=False, dataset=dict(start=0',
                       'downstream/imp_r50_svhn_pt.py', 'drop_last'),
    'the MoCo neck width': ('imp_mocov2_r50_8xb32_in1k.py', "load_from = ",
                            "model = dict(neck=dict(hid_channels=4096))\nload_from = ",
                            'sweeps/imp_mocov2_r50_8xb32_in1k_tau0.1.py', 'widths'),
    'another supervised val pipeline': ('imp_supervised_r50_8xb32_in1k.py', "scale=256, edge='short'",
                                        "scale=288, edge='short'", 'imp_supervised_r50_8xb32_in1k.py', 'val_pipeline'),
}


@pytest.mark.parametrize('drift', sorted(DRIFTS))
def test_the_card_sees_a_planted_drift(drift, tmp_path):
    import shutil
    file, old, new, leaf, field = DRIFTS[drift]
    shutil.copytree(PAPER, tmp_path / 'paper')
    path = tmp_path / 'paper' / file
    text = path.read_text()
    assert text.count(old) == 1, (file, old)
    path.write_text(text.replace(old, new))
    assert not differences(leaf, card_of(PAPER / leaf))  # the shipped config follows the card
    assert field in differences(leaf, card_of(tmp_path / 'paper' / leaf)), drift
