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

from mmengine.config import Config

from ltcv_mm.core import atomic_torch_save, atomic_write_bytes, load_ticket, to_canonical, torch_load_safe
from ltcv_mm.models.sparse_backbone import stock_backbone_cfg
from .settings import DemoSettings
from .tiny import for_cpu, narrow_model, scale_images, set_num_classes, use_local_data

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
STOCK_PRETRAIN = {
    'supervised': 'mmpretrain::resnet/resnet50_8xb32_in1k.py',
    'simclr': 'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py',
    'mocov2': 'mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py',
}
# Learning rates for a few epochs from scratch at the demo's batch size (the
# stock ones assume batches of 256-4096 and 200 epochs with warm-up). SimCLR's LARS leaves
# BN parameters to plain SGD, whose scale grows fast at larger rates.
PRETRAIN_LR = {'supervised': 0.1, 'simclr': 0.05, 'mocov2': 0.03}
TRANSFER_CONFIG = {
    'detection': 'transfer/detection/faster-rcnn_r50-{}-ticket_fpn_1x_coco.py',
    'segmentation': 'transfer/segmentation/deeplabv3plus_r50-{}-ticket-d8_4xb4-20k_voc12aug-512x512.py',
}
METRIC = {'detection': 'coco/bbox_mAP_50', 'segmentation': 'mIoU'}
DIGITS = tuple(str(d) for d in range(10))
RESULT = 'result.json'
KNOWN_NOTICES = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias of "LocalBackend"',
                 'The prefix is not set in metric class')


def scene_classes(s: DemoSettings) -> tuple[str, ...]:
    return DIGITS if s.scene_classes == 'digits' else ('digit',)


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


def _digit_classifier(cfg: Config) -> None:
    """The ImageNet classifier config on the ten digit classes (top-1 only: top-5 of 10 says little)."""
    set_num_classes(cfg.model, len(DIGITS))
    cfg.model.data_preprocessor = dict(num_classes=len(DIGITS), mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True)
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1,))


def pretrain_config(s: DemoSettings, pretraining: str, data: Path, work: Path) -> Config:
    """Dense pre-training from scratch with the stock mmpretrain config."""
    cfg = Config.fromfile(stock(STOCK_PRETRAIN[pretraining]))
    _common(cfg, s, work, s.cls_size)
    use_local_data(cfg, str(data / 'cls'), DIGITS)
    if pretraining == 'supervised':
        _digit_classifier(cfg)
    cfg.model.backbone.norm_cfg = dict(type='BN')
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
    too, as the paper's ImageNet IMP does); the self-supervised ones from the
    pre-trained backbone, their projection heads learning anew.
    """
    cfg = Config.fromfile(str(shipped(f'pretrain/imp_{pretraining}_r50_in1k.py')))
    _common(cfg, s, work, s.cls_size)
    use_local_data(cfg, str(data / 'cls'), DIGITS)
    if pretraining == 'supervised':
        _digit_classifier(cfg)
        cfg.train_cfg.val_interval = s.round_epochs
        cfg.load_from = str(pretrain_checkpoint)
    cfg.model.backbone.init_cfg.checkpoint = str(pretrained)
    cfg.train_cfg.max_epochs = s.round_epochs
    for h in cfg.custom_hooks:
        if h['type'] == 'ltcv.IMPHook':
            h.update(rounds=s.imp_rounds, rate=s.imp_rate)
    return cfg


def transfer_config(s: DemoSettings, task: str, pretraining: str, data: Path, work: Path, pretrained: Path,
                    ticket: Path | None, mode: str) -> Config:
    """The shipped transfer config with a ticket (``ticket`` / ``random`` mode) or dense (``ticket`` None)."""
    cfg = Config.fromfile(str(shipped(TRANSFER_CONFIG[task].format(pretraining))))
    backbone = cfg.model.backbone
    backbone.init_cfg.checkpoint = str(pretrained)
    if ticket is None:  # the stock backbone, dense
        cfg.model.backbone = stock_backbone_cfg(backbone)
    else:
        backbone.update(ticket=str(ticket), mode=mode, seed=s.seed)
    _common(cfg, s, work, s.scene_size)
    if task == 'detection':
        classes = scene_classes(s)
        use_local_data(cfg, str(data / 'coco'), classes)
        set_num_classes(cfg.model, len(classes))
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=s.transfer_epochs, val_interval=s.transfer_epochs)
        cfg.default_hooks.checkpoint.interval = s.transfer_epochs  # runs of seconds: one checkpoint
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
                               dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=s.transfer_epochs,
                                    T_max=s.transfer_epochs)]
        cfg.optim_wrapper.optimizer.lr = 0.04
        # a backbone pre-trained for minutes has unruly feature scales: clip as mmdet's RetinaNet does
        cfg.optim_wrapper.clip_grad = dict(max_norm=35, norm_type=2)
        # keep every detection: a briefly trained detector may score all below the stock 0.05,
        # and CocoMetric then reports nothing at all instead of a low mAP
        cfg.model.test_cfg.rcnn.score_thr = 0.0
    else:
        from mmseg.datasets import PascalVOCDataset
        # mmseg's VOC reader takes only a subset of the VOC names: background and the first
        # len(classes) names stand for the scene classes (label d + 1 is class d)
        classes = PascalVOCDataset.METAINFO['classes'][:1 + len(scene_classes(s))]
        use_local_data(cfg, str(data / 'VOCdevkit/VOC2012'), classes)
        set_num_classes(cfg.model, len(classes))
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=s.seg_iters, val_interval=s.seg_iters)
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=s.seg_iters,
                                            max_keep_ckpts=1)
        cfg.param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=s.seg_iters,
                                    by_epoch=False)]
        cfg.optim_wrapper.optimizer.lr = 0.1
        cfg.optim_wrapper.clip_grad = dict(max_norm=35, norm_type=2)
    return cfg


def is_done(work: Path) -> bool:
    return (work / RESULT).is_file()


def read_result(work: Path) -> dict:
    return json.loads((work / RESULT).read_text())


def run(cfg: Config, work: Path, record: dict) -> dict:
    """Train (and validate) ``cfg`` in a stock Runner unless already done; returns the result record.

    A work_dir holding a checkpoint but no result resumes from it.
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
    record = dict(record, metrics=_last_val_metrics(runner), seconds=round(time.time() - t0, 2),
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
