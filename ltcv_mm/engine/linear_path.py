"""The instability analysis in a stock Runner: two copies trained from one start, their linear path evaluated.

``tools/instability.py`` and the demo's ``--instability`` option run this;
the pieces (interpolation, BatchNorm statistics, barrier) are plain torch in
``ltcv_mm/analysis/instability.py``.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Callable, Sequence

from ..analysis.instability import barrier, interpolate, recompute_batchnorm, verdict_of


def _train_copy(cfg, seed: int, work_dir: Path, start: Path, first: bool, metric: str | None):
    from mmengine.runner import Runner

    from ..hooks.imp_checks import check_metric_name
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'{cfg.get("experiment_name") or "instability"}_{work_dir.name}'  # one logger per copy
    cfg.randomness = dict(seed=seed)
    if first:  # save where it starts
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='ltcv.StartWeightsHook',
                                                                       path=str(start))]
    else:
        cfg.load_from = str(start)  # the first copy's starting weights, loaded over the init
    runner = Runner.from_cfg(cfg)
    check_metric_name(runner, metric, 'linear path')  # before either copy trains
    runner.train()
    return runner


def linear_path(cfg, work_dir: Path, seeds: Sequence[int] = (0, 1), alphas: int = 30, bn_batches: int = 20,
                metric: str | None = None, threshold: float = 2.0, log: Callable[[str], None] = print) -> dict:
    """Train two copies of ``cfg`` (seeds ``seeds``) from the first one's starting weights, then
    evaluate ``alphas`` evenly spaced points between their final weights, ends included, with the
    config's validation loop, BatchNorm statistics recomputed at every point on the first
    ``bn_batches`` training batches (the training set in its own order, augmentation drawn with
    seed 0; 0: the interpolated running statistics are kept, so each end is exactly its copy).
    Returns the record: the path, the barrier, the verdict against ``threshold``, and ``own``:
    each copy's metric as it finished training (its own running statistics).

    The model may carry a ticket (SparseBackbone, MaskApplyHook): it holds at every point, and
    ``pruned_nonzero`` counts pruned weights that are not zero there (None for a dense model).
    """
    from mmengine.runner import set_random_seed
    from torch.utils.data import DataLoader

    from ..core import atomic_torch_save
    from ..hooks.runner_access import masked_modules, unwrap

    if alphas < 2:
        raise ValueError('alphas must be at least 2 (the two ends)')
    if bn_batches < 0:
        raise ValueError(f'bn_batches must be >= 0, got {bn_batches}')
    work_dir = Path(work_dir)
    a = _train_copy(cfg, seeds[0], work_dir / 'copy_a', work_dir / 'start.pth', first=True, metric=metric)
    b = _train_copy(cfg, seeds[1], work_dir / 'copy_b', work_dir / 'start.pth', first=False, metric=metric)
    model = unwrap(a.model)
    held = masked_modules(a)
    state_a = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state_b = {k: v.detach().clone() for k, v in unwrap(b.model).state_dict().items()}
    own = [dict(a.val_loop.run()), dict(b.val_loop.run())]  # each copy as it finished, its own statistics
    # the same batches for every point and every run: the training set in its own order, its
    # augmentation drawn from a fixed seed (not the copies' seeds)
    set_random_seed(0)
    loader = a.train_dataloader
    # mmdet's loaders batch through a batch sampler (AspectRatioBatchSampler): their batch_size is None
    batch_size = loader.batch_size or loader.batch_sampler.batch_size
    ordered = iter(DataLoader(loader.dataset, batch_size=batch_size, shuffle=False,
                              collate_fn=loader.collate_fn, num_workers=0))
    batches = [next(ordered) for _ in range(min(bn_batches, len(loader)))]

    def forward(batch):
        data = model.data_preprocessor(batch, True)
        model(**data, mode='tensor')

    path, key = [], metric
    for i in range(alphas):
        alpha = i / (alphas - 1)
        model.load_state_dict(interpolate(state_a, state_b, alpha))  # masked on load
        if batches:
            recompute_batchnorm(model, forward, batches)
        nonzero = sum(masks.count_nonzero_pruned(m) for m, masks in held) if held else None
        metrics = a.val_loop.run()
        key = metric or next(iter(metrics))
        if key not in metrics:
            raise KeyError(f'metric {key!r} not among the validation metrics {sorted(metrics)}')
        value = float(metrics[key])
        # JSON has no NaN: a point that is not a number is null (and the barrier undefined)
        path.append({'alpha': alpha, 'metric': value if math.isfinite(value) else None, 'pruned_nonzero': nonzero})
        log(f'alpha {alpha:.3f}: {key} = {float(metrics[key]):.4f}')
    values = [p['metric'] for p in path]
    b_value = barrier(values)
    verdict = verdict_of(b_value, threshold)
    shown = 'none' if b_value is None else f'{b_value:.4f}'
    log(f'barrier {shown} ({key}; ends {values[0]} and {values[-1]}): {verdict} (threshold {threshold})')
    atomic_torch_save({'a': state_a, 'b': state_b}, work_dir / 'ends.pth')
    return {'seeds': list(seeds), 'metric': key, 'path': path, 'barrier': b_value, 'threshold': threshold,
            'verdict': verdict, 'bn_batches': len(batches), 'ticket': bool(held),
            'own': [float(m[key]) if math.isfinite(float(m[key])) else None for m in own]}
