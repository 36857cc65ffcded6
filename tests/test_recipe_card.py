"""The recipe card: every paper config (configs/paper/), merged with its stock bases, against the table
read from the seed code (tests/seed_recipe_card.py), field by field."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

import ltcv_mm  # noqa: F401
from helpers import ROOT
from ltcv_mm.core.names import DEFAULT_EXCLUDE
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
    return name, warmup


def _gpus(path: Path) -> int:
    found = re.search(r'_(\d+)xb(\d+)', path.name)
    return int(found.group(1)) if found else 1  # the downstream configs run on one GPU, as the seed


def _pipeline(dataset) -> list:
    while dataset.get('dataset') is not None or dataset.get('datasets') is not None:
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    return dataset['pipeline']


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
    if isinstance(init, dict) and init.get('type') == 'Pretrained':
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


def _classification_fields(cfg, path: Path) -> dict:
    backbone = cfg.model.backbone
    out = dict(_split(cfg), weights=_weights(cfg))
    if 'transfer' in path.parts:
        out.update(epochs=cfg.train_cfg.max_epochs, mode=backbone.mode,
                   save_best=cfg.default_hooks.checkpoint.get('save_best'))
        return out
    out['zero_init_residual'] = backbone.get('zero_init_residual', True)
    if backbone['type'] == 'ResNet_CIFAR':
        out['stem'] = '3x3 stride 1, no max-pool'
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
    cosine = [s for s in cfg.param_scheduler if s['type'] == 'CosineAnnealingLR'][0]
    sets = [d['ann_file'].split('/')[0] + ' ' + d['ann_file'].split('/')[-1][:-4]
            for d in cfg.train_dataloader.dataset.datasets]
    resize = [t for t in _pipeline(cfg.train_dataloader.dataset) if t['type'] == 'Resize'][0]
    return dict(epochs=cfg.train_cfg.max_epochs, lr_end=cosine['eta_min'], image_size=max(resize['scale']),
                frozen_stages=backbone.frozen_stages, norm_eval=backbone.norm_eval, train_set=' + '.join(sets),
                test_set=cfg.val_dataloader.dataset.ann_file.split('/')[0] + ' test')


def card_of(path: Path) -> dict:
    """The card's fields as this config sets them."""
    cfg = Config.fromfile(str(path))
    optim = cfg.optim_wrapper.optimizer
    out = dict(optimizer=optim['type'], lr=optim['lr'], momentum=optim.get('momentum'),
               weight_decay=optim.get('weight_decay'))
    if 'eta' in optim:
        out['eta'] = optim['eta']
    out['schedule'], out['warmup_epochs'] = _schedule(cfg)
    out['total_batch'] = cfg.train_dataloader.batch_size * _gpus(path)
    out['drop_last'] = cfg.train_dataloader.get('drop_last', False)
    assert cfg.auto_scale_lr == dict(base_batch_size=out['total_batch'], enable=True)  # any GPU count
    out['augment'] = [d for t in _pipeline(cfg.train_dataloader.dataset) for d in _describe(t)]
    if any(h['type'] == 'ltcv.IMPHook' for h in cfg.get('custom_hooks', [])):
        out.update(_imp_fields(cfg))
    if cfg.model.type == 'EncoderDecoder':
        out.update(_segmentation_fields(cfg))
    elif cfg.model.type == 'FasterRCNN':
        out.update(_detection_fields(cfg))
    else:
        out.update(_classification_fields(cfg, path))
    return out


def test_every_paper_config_has_a_card_and_every_card_a_config():
    configs = {str(p.relative_to(PAPER)) for p in PAPER.rglob('*.py') if '_base_' not in p.parts}
    assert configs == set(CARD)


@pytest.mark.parametrize('rel', sorted(CARD))
def test_paper_config_follows_the_seed_recipe(rel):
    ours = card_of(PAPER / rel)
    differ = {k: (v, ours.get(k, '<not set>')) for k, v in CARD[rel].items() if ours.get(k, '<not set>') != v}
    assert not differ, f'{rel}: seed vs config: {differ}'
