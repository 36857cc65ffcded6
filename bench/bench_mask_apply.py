#!/usr/bin/env python
"""Training-step cost of MaskApplyHook in the stock mmengine Runner, side by side.

A full-width ResNet-50 mmpretrain ImageClassifier (batch 16, 64x64 images,
SGD with momentum) trains for the same iterations with and without
MaskApplyHook holding an 80 %-sparse ticket. Runs alternate between the two
set-ups (which goes first alternates too), each in its own process; the step
time is the median of mmengine's own per-iteration timer (IterTimerHook),
warm-up iterations dropped. Step times on these shared CPUs wander by a few
per cent between runs, more than the effect measured, so the run with the
hook also times the masks' own work (the gradient masks as gradients land,
the forward hook, and any weight masking after the step) against its step
time: that share is the overhead with the noise taken out. Peak memory
is the process's maximum RSS.
"""
import os
import statistics
import sys
from pathlib import Path

from ab_runs import ab_benchmark, median_step, time_masking, timed, write_figures

ROOT = Path(__file__).resolve().parents[1]


def make_inputs(tmp: Path, size: int) -> Path:
    import numpy as np
    import torch
    import torchvision
    from PIL import Image

    from ltcv_mm.core import prune, save_ticket, select_prunable
    rng = np.random.default_rng(0)
    for c in range(4):
        (tmp / 'data' / f'c{c}').mkdir(parents=True, exist_ok=True)
        for i in range(16):
            image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
            image.save(tmp / 'data' / f'c{c}' / f'{i}.png')
    torch.manual_seed(0)
    weights = select_prunable(dict(torchvision.models.resnet50().named_parameters()))
    save_ticket(prune(weights, rounds=7), tmp / 'ticket.safetensors', overwrite=True)  # 79 % sparse
    return tmp


def worker(tmp: Path, kind: str, args) -> dict:
    with_mask, iters, batch = kind == 'with', args.iters, args.batch
    import resource

    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import ltcv_mm  # noqa: F401
    import ltcv_mm.core.masking as masking
    from ltcv_mm.hooks import MaskApplyHook
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
    spent = []
    time_masking(masking, spent)
    MaskApplyHook.after_train_iter = timed(MaskApplyHook.after_train_iter, spent)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    cfg = dict(
        default_scope='mmpretrain', work_dir=str(tmp / ('with' if with_mask else 'without')),
        model=dict(type='ImageClassifier',
                   data_preprocessor=dict(num_classes=4, mean=[127.0] * 3, std=[60.0] * 3, to_rgb=True),
                   backbone=dict(type='ResNet', depth=50), neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=4, in_channels=2048)),
        train_dataloader=dict(batch_size=batch, num_workers=0, dataset=dict(
            type='CustomDataset', data_root=str(tmp / 'data'), pipeline=pipeline),
            sampler=dict(type='InfiniteSampler', shuffle=True)),
        train_cfg=dict(by_epoch=False, max_iters=iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=10 ** 9, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=10 ** 9)),
        custom_hooks=[dict(type='ltcv.MaskApplyHook', ticket=str(tmp / 'ticket.safetensors'))] if with_mask else [],
        randomness=dict(seed=0), log_level='ERROR')
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    times = list(runner.message_hub.get_scalar('train/time').data[0])
    return {'times': times, 'hook_seconds_per_step': sum(spent) / iters,
            'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    ran = ab_benchmark(__file__, __doc__, ('without', 'with'), make_inputs, worker,
                       iters=14, warmup=4, batch=16, size=64)
    if ran is None:
        return
    args, runs = ran
    step = {k: median_step(rs, args.warmup) for k, rs in runs.items()}
    rss = {k: statistics.median(r['maxrss_mb'] for r in rs) for k, rs in runs.items()}
    hook = statistics.median(r['hook_seconds_per_step'] for r in runs['with'])
    figures = {'step_seconds_without': step['without'], 'step_seconds_with': step['with'],
               'overhead': step['with'] / step['without'] - 1,
               'hook_seconds_per_step': hook, 'hook_share_of_step': hook / step['without'],
               'maxrss_mb_without': rss['without'], 'maxrss_mb_with': rss['with'],
               'extra_rss_mb': rss['with'] - rss['without'], 'bool_masks_mb': 23_445_504 / 2 ** 20}
    print(f'ResNet-50 classifier, batch {args.batch} at {args.size}x{args.size}, SGD+momentum, stock Runner; '
          f'median of {args.repeats} runs x {args.iters - args.warmup} timed iterations each:')
    print(f'  step time     without {step["without"]:.4f} s   with MaskApplyHook {step["with"]:.4f} s   '
          f'difference {figures["overhead"]:+.2%}')
    print(f'  hook work     {hook * 1000:.1f} ms per step = {figures["hook_share_of_step"]:.2%} of the step '
          f'(target <= 2 %)')
    print(f'  peak RSS      without {rss["without"]:.0f} MB   with {rss["with"]:.0f} MB   '
          f'extra {figures["extra_rss_mb"]:.0f} MB (bool masks: {figures["bool_masks_mb"]:.0f} MB)')
    write_figures(args, figures)


if __name__ == '__main__':
    sys.path.insert(0, str(ROOT))
    main()
