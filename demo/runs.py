"""The demo's runs: the shipped and stock configs, shrunk by DemoSettings, run in a stock Runner.

Every run lives in its own work_dir and counts as done once its
``result.json`` is written (atomically, last). A run found unfinished
resumes from its last checkpoint (mmengine's ``resume``).
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import torch
from mmengine.config import Config

from ltcv_mm.core import atomic_torch_save, atomic_write_bytes, load_ticket, to_canonical, torch_load_safe
from ltcv_mm.models.sparse_backbone import stock_backbone_cfg

from . import cpu_kernels
from .settings import DemoSettings
from .tiny import datasets, for_cpu, narrow_model, scale_images, set_num_classes, use_local_data

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
STOCK_PRETRAIN = {
    'supervised': 'mmpretrain::resnet/resnet50_8xb32_in1k.py',
    'simclr': 'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py',
    'mocov2': 'mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py',
}
# Learning rates for a few epochs from scratch at the demo's batch size (the
# stock ones assume batches of 256-4096 and 200 epochs with warm-up). SimCLR's LARS leaves
# BN parameters to plain SGD, whose scale grows fast at larger rates.
PRETRAIN_LR = {'supervised': 0.1, 'simclr': 0.3, 'mocov2': 0.1}
# SimCLR at the seed code's 0.5 (k-NN 85 % against 42 % at the stock 0.1 on the demo's digits); MoCo's stock 0.2
SSL_TEMPERATURE = {'simclr': 0.5, 'mocov2': 0.2}
# MoCo's key encoder follows the query encoder at 2 % a step (stock 0.1 %, for 200 epochs): in a run of
# seconds the stock rate leaves the keys at their random initialisation
MOCO_MOMENTUM = 0.02
TRANSFER_CONFIG = {
    'detection': 'transfer/detection/faster-rcnn_r50-{}-ticket_fpn_1x_coco.py',
    'segmentation': 'transfer/segmentation/deeplabv3plus_r50-{}-ticket-d8_4xb4-20k_voc12aug-512x512.py',
}
METRIC = {'detection': 'coco/bbox_mAP_50', 'segmentation': 'mIoU'}
KNN_METRIC = 'knn/top1'  # how the self-supervised IMP rounds are judged (knn_validation)
DIGITS = tuple(str(d) for d in range(10))
RESULT = 'result.json'
KNOWN_NOTICES = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias of "LocalBackend"',
                 'The prefix is not set in metric class')


# the scene kinds: every digit its own class, every digit one class, digits 0-4 one class among
# distractor digits 5-9 (drawn, labelled background: telling them apart needs recognising digits), or
# digits 0-4 one class and 5-9 another (finding digits is easy, labelling them needs recognising them)
SCENE_KINDS = {'digits': DIGITS, 'digit': ('digit',), 'low digit': ('low digit',),
               'low/high': ('low digit', 'high digit')}
DISTRACTORS_FROM = 5  # in 'low digit' scenes, digits from this one on are distractors; in 'low/high', 'high'


def scene_classes(s: DemoSettings, task: str) -> tuple[str, ...]:
    kind = s.detection_classes if task == 'detection' else s.segmentation_classes
    if kind not in SCENE_KINDS:
        raise ValueError(f'{task}_classes must be one of {sorted(SCENE_KINDS)}, got {kind!r}')
    return SCENE_KINDS[kind]


def shipped(rel: str) -> Path:
    path = CONFIGS / rel
    if not path.is_file():
        raise FileNotFoundError(f'{path}: the demo runs the configs shipped in configs/ '
                                '(install the plugin from its repository, editable)')
    return path


def stock(name: str) -> str:
    """The file of a stock config named as in ``_base_`` ('mmpretrain::resnet/...')."""
    from mmengine.utils import get_installed_path
    package, rel = name.split('::')
    return str(Path(get_installed_path(package)) / '.mim' / 'configs' / rel)


def load_config(path: str) -> Config:
    """``Config.fromfile`` without yapf formatting of the config's text: the Runner formats it for its
    log, its config dump and every checkpoint: about 0.5 s of a 19-s demo detection run (the text stays
    valid Python, one line per entry)."""
    cfg = Config.fromfile(path, format_python_code=False)
    # mmengine 0.10's fromfile hands the flag on for lazy-import configs only; a deep copy (the Runner's)
    # keeps the attribute
    object.__setattr__(cfg, '_format_python_code', False)
    return cfg


def _common(cfg: Config, s: DemoSettings, work: Path, size: int) -> Config:
    narrow_model(cfg.model, width=s.width, feat=s.feat)
    scale_images(cfg, size)
    for_cpu(cfg, batch_size=s.batch_size)
    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'ltcv.SyncBNFallbackHook']
    cfg.custom_hooks = [dict(type='ltcv.SyncBNFallbackHook'), *hooks]
    cfg.custom_imports = dict(imports=['ltcv_mm'], allow_failed_imports=False)
    cfg.env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
    cfg.randomness = dict(seed=s.seed)
    cfg.log_level = 'WARNING'
    cfg.work_dir = str(work)
    cfg.experiment_name = '_'.join(work.parts[-3:])
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, max_keep_ckpts=1)
    cfg.launcher = 'none'
    return cfg


def digit_augmentation(loader: dict, crop_min: float) -> None:
    """The stock ImageNet augmentations, made to fit 32-pixel digits: random crops keep at least
    ``crop_min`` of the image (ImageNet's 8 % or 20 % leave a stroke), and no flips (a flipped
    digit is another glyph, or none)."""
    def fix(pipeline: list) -> list:
        out = []
        for t in pipeline:
            if isinstance(t, (list, tuple)):  # MultiView's view pipelines
                out.append(fix(t))
                continue
            if t.get('type') == 'RandomFlip':
                continue
            if t.get('type') == 'RandomResizedCrop':
                t['crop_ratio_range'] = (crop_min, 1.0)
            if 'transforms' in t:  # MultiView, RandomApply
                t['transforms'] = fix(t['transforms'])
            out.append(t)
        return out
    for ds in datasets(loader):
        ds['pipeline'] = fix(ds['pipeline'])


def _digit_classifier(cfg: Config) -> None:
    """The ImageNet classifier config on the ten digit classes (top-1 only: top-5 of 10 says little)."""
    set_num_classes(cfg.model, len(DIGITS))
    cfg.model.data_preprocessor = dict(num_classes=len(DIGITS), mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True)
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1,))


def _pretraining_task(cfg: Config, s: DemoSettings, pretraining: str, data: Path) -> None:
    """What pre-training and IMP on the digits share: data, plain BN, batch, augmentation, the
    contrastive heads' settings."""
    use_local_data(cfg, str(data / 'cls'), DIGITS)
    if pretraining == 'supervised':
        _digit_classifier(cfg)
    cfg.model.backbone.norm_cfg = dict(type='BN')
    cfg.train_dataloader.batch_size = s.pretrain_batch
    digit_augmentation(cfg.train_dataloader, s.crop_min)
    if pretraining == 'mocov2':  # a queue longer than the data set holds each image's own key several times
        cfg.model.queue_len = s.moco_queue
        cfg.model.momentum = MOCO_MOMENTUM
    if pretraining in SSL_TEMPERATURE:
        cfg.model.head.temperature = SSL_TEMPERATURE[pretraining]


def pretrain_config(s: DemoSettings, pretraining: str, data: Path, work: Path) -> Config:
    """Dense pre-training from scratch with the stock mmpretrain config."""
    cfg = load_config(stock(STOCK_PRETRAIN[pretraining]))
    _common(cfg, s, work, s.cls_size)
    _pretraining_task(cfg, s, pretraining, data)
    cfg.optim_wrapper.optimizer.lr = PRETRAIN_LR[pretraining]
    # the digits' dark backgrounds give the stem's BN tiny variances, hence huge stem gradients
    # that blow its weights (and every later feature scale) up within an epoch; clipping keeps
    # the pre-trained backbones usable for transfer
    cfg.optim_wrapper.clip_grad = dict(max_norm=5.0)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=s.pretrain_epochs, by_epoch=True,
                                begin=0, end=s.pretrain_epochs)]
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=s.pretrain_epochs,
                         **({'val_interval': s.pretrain_epochs} if pretraining == 'supervised' else {}))
    return cfg


def imp_config(s: DemoSettings, pretraining: str, data: Path, work: Path, pretrained: Path,
               pretrain_checkpoint: Path) -> Config:
    """IMP on the pre-training task with the shipped configs/pretrain config (IMPHook, rewind 'pt').

    The supervised run starts from the whole pre-trained classifier (its head
    too, as the paper's ImageNet IMP does), MoCo from the whole pre-trained
    model (both encoders, the MLP head and the queue, as the seed code's MoCo
    IMP), SimCLR from the pre-trained backbone, its projection head learning anew.
    """
    cfg = load_config(str(shipped(f'pretrain/imp_{pretraining}_r50_in1k.py')))
    _common(cfg, s, work, s.cls_size)
    _pretraining_task(cfg, s, pretraining, data)
    if pretraining != 'supervised':
        knn_validation(cfg, data)
    cfg.train_cfg.val_interval = s.round_epochs
    if pretraining in ('supervised', 'mocov2'):
        cfg.load_from = str(pretrain_checkpoint)
    if cfg.model.backbone.get('init_cfg'):  # the stock MoCo config loads everything through load_from
        cfg.model.backbone.init_cfg.checkpoint = str(pretrained)
    cfg.train_cfg.max_epochs = s.round_epochs
    for h in cfg.custom_hooks:
        if h['type'] == 'ltcv.IMPHook':
            h.update(rounds=s.imp_rounds, rate=s.imp_rate)
            if pretraining != 'supervised':
                h.update(metric=KNN_METRIC)
    return cfg


def knn_validation(cfg: Config, data: Path, k: int = 5) -> None:
    """Validate a self-supervised run by k-NN on held-out digits (ltcv.KNNValLoop, the stock Accuracy):
    IMP then judges each round's ticket on the pre-training task, which its loss cannot tell."""
    def loader(split: str) -> dict:
        return dict(batch_size=64, num_workers=0, collate_fn=dict(type='default_collate'),
                    sampler=dict(type='DefaultSampler', shuffle=False),
                    dataset=dict(type='ImageNet', data_root=str(data / 'cls') + '/', split=split,
                                 metainfo=dict(classes=DIGITS),
                                 pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    cfg.val_dataloader = loader('val')
    cfg.val_evaluator = dict(type='Accuracy', topk=(1,), prefix=KNN_METRIC.split('/')[0])
    cfg.val_cfg = dict(type='ltcv.KNNValLoop', bank_dataloader=loader('train'), k=k)


def transfer_config(s: DemoSettings, task: str, pretraining: str | None, data: Path, work: Path,
                    pretrained: Path | None, ticket: Path | None, mode: str, seed: int) -> Config:
    """The shipped transfer config: ``scratch`` (dense, random init), ``dense`` (the pre-trained
    backbone), or ``ticket`` / ``random`` / ``reverse`` (SparseBackbone's modes) under ``ticket``.
    ``seed`` sets the run's randomness (and the random mask)."""
    cfg = load_config(str(shipped(TRANSFER_CONFIG[task].format(pretraining or 'supervised'))))
    backbone = cfg.model.backbone
    if mode == 'scratch':  # the stock backbone at the stock random initialisation
        cfg.model.backbone = stock_backbone_cfg(backbone)
        cfg.model.backbone.init_cfg = None
    elif mode == 'dense':
        backbone.init_cfg.checkpoint = str(pretrained)
        cfg.model.backbone = stock_backbone_cfg(backbone)
    else:
        backbone.init_cfg.checkpoint = str(pretrained)
        backbone.update(ticket=str(ticket), mode=mode, seed=seed)
    # BatchNorm trains in every mode: statistics of 32-px digit crops do not fit 64-px scenes, and
    # with the stock frozen BN (norm_eval) the pre-trained detectors scattered by 0.16 mAP@50 over seeds
    cfg.model.backbone.update(norm_eval=False, frozen_stages=-1)
    _common(cfg, s, work, s.scene_size)
    cfg.randomness = dict(seed=seed)
    if task == 'detection':
        classes = scene_classes(s, task)
        use_local_data(cfg, str(data / 'coco'), classes)
        set_num_classes(cfg.model, len(classes))
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=s.transfer_epochs, val_interval=s.transfer_epochs)
        cfg.default_hooks.checkpoint.interval = s.transfer_epochs  # runs of seconds: one checkpoint
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
                               dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=s.transfer_epochs,
                                    T_max=s.transfer_epochs)]
        cfg.optim_wrapper.optimizer.lr = s.detection_lr
        # a backbone pre-trained for minutes has unruly feature scales: clip as mmdet's RetinaNet does
        cfg.optim_wrapper.clip_grad = dict(max_norm=35, norm_type=2)
        # keep every detection: a briefly trained detector may score all below the stock 0.05,
        # and CocoMetric then reports nothing at all instead of a low mAP
        cfg.model.test_cfg.rcnn.score_thr = 0.0
        fit_detector_to_scenes(cfg.model)
        # a tenth of the rate on the backbone (the usual fine-tuning recipe): at the full rate 84 steps
        # re-learn the backbone, and a random mask of the pre-trained weights caught up with the ticket
        # (supervised, 83 %, seeds 0-2: random 21.5 vs ticket 21.9 mAP@50 x100 at the full rate; 18.3 vs
        # 21.4 at a tenth)
        cfg.optim_wrapper.paramwise_cfg = dict(custom_keys={'backbone': dict(lr_mult=s.detection_backbone_lr_mult)})
    else:
        from mmseg.datasets import PascalVOCDataset
        # mmseg's VOC reader takes only a subset of the VOC names: background and the first
        # len(classes) names stand for the scene classes (label d + 1 is class d)
        classes = PascalVOCDataset.METAINFO['classes'][:1 + len(scene_classes(s, task))]
        use_local_data(cfg, str(data / 'VOCdevkit/VOC2012'), classes)
        set_num_classes(cfg.model, len(classes))
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=s.seg_iters, val_interval=s.seg_iters)
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=s.seg_iters,
                                            max_keep_ckpts=1)
        cfg.param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=s.seg_iters,
                                    by_epoch=False)]
        cfg.optim_wrapper.optimizer.lr = s.segmentation_lr
        cfg.optim_wrapper.clip_grad = dict(max_norm=35, norm_type=2)
    return cfg


def fit_detector_to_scenes(model: dict) -> None:
    """Faster R-CNN's anchors and sample counts for 64-px scenes of 16-28-px digits, in place.

    The stock anchors (scale 8: 32 px on P2) are sized for 800-px images: no digit under 27 px
    reaches the RPN's positive IoU of 0.7 with any of them, so those were learned through
    low-quality matches only. Scale 4 (16 px on P2, 32 on P3) raised the supervised dense
    detector from 18.6 to 21.4 mAP@50 x100 (seeds 0-2, 14 epochs). With 2-4 objects a scene,
    128 RoI samples and 300 proposals a scene replace 512 and 1,000 at a fraction of the cost
    (RoIAlign was half of every step).
    """
    model['rpn_head']['anchor_generator']['scales'] = [4]
    model['train_cfg']['rpn_proposal'].update(nms_pre=500, max_per_img=300)
    model['test_cfg']['rpn'].update(nms_pre=500, max_per_img=300)
    model['train_cfg']['rcnn']['sampler']['num'] = 128


def is_done(work: Path) -> bool:
    return (work / RESULT).is_file()


def read_result(work: Path) -> dict:
    return json.loads((work / RESULT).read_text())


def run(cfg: Config, work: Path, record: dict) -> dict:
    """Train (and validate) ``cfg`` in a stock Runner unless already done; returns the result record.

    A work_dir holding a checkpoint but no result resumes from it; one whose training had ended (killed
    between its last checkpoint and its result) validates that checkpoint. The result of a run that
    validates always holds its metrics.
    """
    if is_done(work):
        return read_result(work)
    from mmengine.runner import Runner
    work.mkdir(parents=True, exist_ok=True)
    cfg.resume = (work / 'last_checkpoint').is_file()
    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    runner.logger.addFilter(_known_notices)
    # the stock COCO evaluation prints its tables: into the run's folder, not between progress lines
    with open(work / 'stdout.txt', 'a') as out, contextlib.redirect_stdout(out):
        runner.train()
        metrics = _last_val_metrics(runner)
        validates = cfg.get('val_dataloader') is not None  # (self-supervised pre-training does not)
        if validates and not metrics:  # resumed from its last checkpoint (killed before its result)
            metrics = {k: float(v) for k, v in runner.val().items()}
    if validates and not metrics:
        raise RuntimeError(f'{work}: the run ended without a validation metric; no result is written')
    record = dict(record, metrics=metrics, seconds=round(time.time() - t0, 2), cpu_kernels=cpu_kernels.current(),
                  threads=torch.get_num_threads(),
                  checkpoint=str(work / (work / 'last_checkpoint').read_text().strip().split('/')[-1]))
    atomic_write_bytes(work / RESULT, json.dumps(record, indent=1).encode())
    _free(runner)
    return record


def _known_notices(record) -> bool:
    """Drop deprecation notices the stock configs log in every run, which say nothing about the run."""
    msg = record.getMessage()
    return not any(notice in msg for notice in KNOWN_NOTICES)


def _last_val_metrics(runner) -> dict:
    """The metrics of the run's last validation, as the stock loggers saw them."""
    scalars = runner.message_hub.log_scalars
    return {k[len('val/'):]: float(v.current()) for k, v in scalars.items() if k.startswith('val/')
            and k not in ('val/time', 'val/data_time')}


def _free(runner) -> None:
    """Close the run's log file handlers so that dozens of runs in one process stay cheap."""
    import logging
    for h in list(runner.logger.handlers):
        if isinstance(h, logging.FileHandler):
            h.close()
            runner.logger.removeHandler(h)


def export_backbone(checkpoint: Path, out: Path) -> Path:
    """The run's backbone as canonical weights (what tools/convert_pretrained.py writes)."""
    state, _ = to_canonical(torch_load_safe(str(checkpoint)), 'mmpretrain', where=str(checkpoint))
    atomic_torch_save({'state_dict': state}, out)
    return out


def kept_zeros(checkpoint: Path, ticket: Path, mode: str = 'ticket', seed: int = 0) -> float:
    """Zeros in the checkpoint's backbone where the mode's mask prunes, as a fraction of the
    prunable weights: the ticket's sparsity exactly when the mask held through training."""
    from ltcv_mm.models.sparse_backbone import ticket_for_mode
    sd = torch_load_safe(str(checkpoint))['state_dict']
    t = ticket_for_mode(load_ticket(ticket), mode, seed)
    zeros = sum(int((sd['backbone.' + n][~m] == 0).sum()) for n, m in t.masks.items())
    return zeros / t.numel
