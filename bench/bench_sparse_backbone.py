#!/usr/bin/env python
"""Training-step cost of SparseBackbone in a stock detector, side by side.

The shipped Faster R-CNN R-50-FPN transfer config (full width, stock heads,
SGD, stock pipeline with images scaled to --size on the short side) trains
in mmengine's Runner with its backbone restricted to an 79 %-sparse ticket,
and the same config with the stock dense backbone. Runs alternate between
the two (each in its own process, which goes first alternates too); the step
time is the median of mmengine's per-iteration timer, warm-up dropped. As
step times on shared CPUs wander by a few per cent, the sparse run also
times SparseBackbone's own work (the mask before each forward and the
gradient masks in backward) against its step: that share is the overhead
with the noise taken out.
"""
import os
import statistics
import sys
from pathlib import Path

from ab_runs import ab_benchmark, median_step, time_masking, write_figures

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/transfer/detection/faster-rcnn_r50-supervised-ticket_fpn_1x_coco.py'


def make_inputs(tmp: Path, size: int) -> None:
    import numpy as np
    import torch
    import torchvision

    from demo import digits, formats
    from ltcv_mm.core import prune, save_ticket, select_prunable
    glyphs, labels = digits.load_digits()
    rng = np.random.default_rng(0)
    scenes = [digits.make_scene(glyphs, labels, rng, size=size, digit_size=(size // 4, size // 2)) for _ in range(8)]
    formats.write_coco(tmp / 'coco', 'train2017', scenes, tuple(str(d) for d in range(10)))
    torch.manual_seed(0)
    weights = select_prunable(dict(torchvision.models.resnet50().named_parameters()))
    save_ticket(prune(weights, rounds=7), tmp / 'ticket.safetensors', overwrite=True)


def worker(tmp: Path, kind: str, args) -> dict:
    sparse, iters, size = kind == 'sparse', args.iters, args.size
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import ltcv_mm.core.masking as masking
    from demo.tiny import for_cpu, scale_images, set_num_classes, use_local_data
    from ltcv_mm.models import stock_backbone_cfg
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
    spent = []
    time_masking(masking, spent)

    cfg = Config.fromfile(str(CONFIG))
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    if sparse:
        backbone.ticket = str(tmp / 'ticket.safetensors')
    else:
        cfg.model.backbone = stock_backbone_cfg(backbone)
    scale_images(cfg, size)
    for_cpu(cfg, batch_size=2)
    use_local_data(cfg, str(tmp / 'coco'), tuple(str(d) for d in range(10)))
    set_num_classes(cfg.model, 10)
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10 ** 9, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10 ** 9)
    cfg.work_dir = str(tmp / ('sparse' if sparse else 'dense'))
    cfg.log_level = 'ERROR'
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    times = list(runner.message_hub.get_scalar('train/time').data[0])
    return {'times': times, 'hook_seconds_per_step': sum(spent) / iters}


def main():
    # --size: short side of the images (stock: 800)
    ran = ab_benchmark(__file__, __doc__, ('dense', 'sparse'), make_inputs, worker, iters=8, warmup=3, size=320)
    if ran is None:
        return
    args, runs = ran
    step = {k: median_step(rs, args.warmup) for k, rs in runs.items()}
    hook = statistics.median(r['hook_seconds_per_step'] for r in runs['sparse'])
    figures = {'step_seconds_dense': step['dense'], 'step_seconds_sparse': step['sparse'],
               'difference': step['sparse'] / step['dense'] - 1,
               'hook_seconds_per_step': hook, 'hook_share_of_step': hook / step['dense']}
    print(f'Faster R-CNN R-50-FPN (shipped transfer config), batch 2, short side {args.size}, stock Runner; '
          f'median of {args.repeats} runs x {args.iters - args.warmup} timed iterations each:')
    print(f'  step time        stock backbone {step["dense"]:.3f} s   SparseBackbone {step["sparse"]:.3f} s   '
          f'difference {figures["difference"]:+.2%}')
    print(f'  SparseBackbone   {hook * 1000:.1f} ms of its own work per step = '
          f'{figures["hook_share_of_step"]:.2%} of the step (target <= 2 %)')
    write_figures(args, figures)


if __name__ == '__main__':
    sys.path.insert(0, str(ROOT))
    main()
