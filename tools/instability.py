#!/usr/bin/env python
"""Instability analysis of a ticket (Frankle et al., ICML 2020): is it stable to data order?

  instability.py CONFIG [--ticket T] [--seeds 0 1] [--alphas 30] [--bn-batches 20]
                 [--threshold 2.0] [--metric KEY] [--work-dir W] [--out OUT.json] [--png OUT.png]

Trains two copies of CONFIG with the stock Runner, from the same starting
weights under the same ticket (the config's SparseBackbone, or --ticket
through MaskApplyHook), differing only in their randomness seed (data order
and augmentation draws). Then evaluates the linear path between their final
weights at --alphas evenly spaced points, ends included, with the config's
validation evaluator; the masks hold at every point, and every point's
BatchNorm statistics are recomputed on the same --bn-batches training
batches (interpolated weights fit neither copy's statistics; the ends are
judged the same way; the batches are the first ones of the training set in
its own order, augmented with seed 0, whatever the copies' seeds). Prints
the metric along the path, the barrier (the
mean of the two ends minus the worst point) and the verdict: stable when the
barrier is below --threshold (2 points, as the paper).
"""
import argparse
import copy
import json
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--ticket', help='ticket enforced by MaskApplyHook (default: the config\'s own)')
    p.add_argument('--seeds', type=int, nargs=2, default=[0, 1], help='randomness seeds of the two copies')
    p.add_argument('--alphas', type=int, default=30, help='points on the path, ends included (default 30)')
    p.add_argument('--bn-batches', type=int, default=20, help='training batches for BatchNorm statistics')
    p.add_argument('--threshold', type=float, default=2.0, help='barrier below which the ticket is stable')
    p.add_argument('--metric', help='validation metric (default: the first)')
    p.add_argument('--work-dir', default='work_dirs/instability')
    p.add_argument('--out', help='JSON with the path')
    p.add_argument('--png', help='plot of the metric along the path')
    return p.parse_args(argv)


def _train_copy(cfg, seed: int, work_dir: Path, start: Path, first: bool):
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed)
    if first:  # save where it starts
        cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='ltcv.StartWeightsHook', path=str(start))]
    else:
        cfg.load_from = str(start)  # the first copy's starting weights, loaded over the init
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def main(argv=None):
    args = parse_args(argv)
    if args.alphas < 2:
        sys.exit('error: --alphas must be at least 2 (the two ends)')
    from mmengine.config import Config

    import ltcv_mm  # noqa: F401
    from ltcv_mm.analysis.instability import barrier, interpolate, recompute_batchnorm
    from ltcv_mm.core import atomic_torch_save, atomic_write_bytes
    from ltcv_mm.hooks.runner_access import masked_modules, unwrap

    cfg = Config.fromfile(args.config)
    cfg.setdefault('custom_imports', dict(imports=['ltcv_mm'], allow_failed_imports=False))
    hooks = list(cfg.get('custom_hooks') or [])
    if args.ticket:
        hooks.append(dict(type='ltcv.MaskApplyHook', ticket=args.ticket))
    cfg.custom_hooks = hooks
    work = Path(args.work_dir)
    a = _train_copy(cfg, args.seeds[0], work / 'copy_a', work / 'start.pth', first=True)
    b = _train_copy(cfg, args.seeds[1], work / 'copy_b', work / 'start.pth', first=False)
    model = unwrap(a.model)
    held = masked_modules(a)
    if not held:
        sys.exit('error: the model carries no ticket: give --ticket or a config with SparseBackbone')
    state_a = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state_b = {k: v.detach().clone() for k, v in unwrap(b.model).state_dict().items()}
    # the same batches for every point and every run: the training set in its own order, its
    # augmentation drawn from a fixed seed (not the copies' seeds)
    from mmengine.runner import set_random_seed
    from torch.utils.data import DataLoader
    set_random_seed(0)
    loader = a.train_dataloader
    ordered = iter(DataLoader(loader.dataset, batch_size=loader.batch_size, shuffle=False,
                              collate_fn=loader.collate_fn, num_workers=0))
    batches = [next(ordered) for _ in range(min(args.bn_batches, len(loader)))]

    def forward(batch):
        data = model.data_preprocessor(batch, True)
        model(**data, mode='tensor')

    path = []
    for i in range(args.alphas):
        alpha = i / (args.alphas - 1)
        model.load_state_dict(interpolate(state_a, state_b, alpha))  # masked on load
        recompute_batchnorm(model, forward, batches)
        nonzero = sum(masks.count_nonzero_pruned(m) for m, masks in held)
        metrics = a.val_loop.run()
        key = args.metric or next(iter(metrics))
        if key not in metrics:
            sys.exit(f'error: metric {key!r} not among the validation metrics {sorted(metrics)}')
        path.append({'alpha': alpha, 'metric': float(metrics[key]), 'pruned_nonzero': nonzero})
        print(f'alpha {alpha:.3f}: {key} = {float(metrics[key]):.4f}', flush=True)
    values = [p['metric'] for p in path]
    b_value = barrier(values)
    verdict = 'stable' if b_value < args.threshold else 'unstable'
    print(f'barrier {b_value:.4f} ({key}; ends {values[0]:.4f} and {values[-1]:.4f}): {verdict} '
          f'(threshold {args.threshold})')
    record = {'config': args.config, 'seeds': args.seeds, 'metric': key, 'path': path, 'barrier': b_value,
              'threshold': args.threshold, 'verdict': verdict, 'bn_batches': len(batches)}
    atomic_torch_save({'a': state_a, 'b': state_b}, work / 'ends.pth')
    if args.out:
        atomic_write_bytes(Path(args.out), json.dumps(record, indent=1).encode())
        print(f'wrote {args.out}')
    if args.png:
        from ltcv_mm.analysis.plots import path_curve
        path_curve([p['alpha'] for p in path], values, key, Path(args.png),
                   title=f'barrier {b_value:.2f} ({verdict}), seeds {args.seeds[0]} and {args.seeds[1]}')
        print(f'wrote {args.png}')


if __name__ == '__main__':
    main()
