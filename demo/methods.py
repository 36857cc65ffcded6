"""Ways to find a ticket on the demo's pre-training task beside its IMP, each a worker's job:
gradual magnitude pruning, IMP with sparse soups, IMP with channel refill.

Every method starts where the demo's IMP starts (the dense pre-training's
weights, the same data, batch and learning rate: ``runs.imp_config``) and
writes tickets of the sparsities IMP reaches, so that its tickets transfer
through the demo's protocol beside IMP's. A method's folder is
``work/methods/METHOD/P`` (``method_dir``); its ``method.json`` holds, per IMP
round k it stands beside: the ticket, its sparsity, the metric on the
pre-training task and the cost (optimizer steps, seconds of training).

With a learning rate ``lr`` (default: the IMP config's, the paper's 1e-4)
every method, and IMP itself (``run_imp``), trains at that rate instead, in
``work/methods/lrLR/``: at the paper's rate the kept weights barely move in
the demo's short rounds, and every magnitude method finds the same ticket.
"""
from __future__ import annotations

import json
from pathlib import Path

from ltcv_mm.core import (
    atomic_torch_save,
    atomic_write_bytes,
    load_ticket,
    save_ticket,
    select_prunable,
    torch_load_safe,
)
from ltcv_mm.core.imp_record import RunRecord
from ltcv_mm.core.soup import average_state_dicts, prune_soup
from ltcv_mm.core.ticket import Ticket

from . import runs
from .layout import DemoLayout
from .settings import DemoSettings

METHODS = ('gmp', 'soup', 'refill')
RESULT = 'method.json'


def method_dir(layout: DemoLayout, method: str, p: str, lr: float | None = None) -> Path:
    return layout.work / 'methods' / ('' if lr is None else f'lr{lr:g}') / method / p


def _metric_name(p: str) -> str:
    return 'accuracy/top1' if p == 'supervised' else runs.KNN_METRIC


def _steps(checkpoint: str | Path) -> int:
    """The optimizer steps a run took: its last checkpoint's iteration count."""
    return int(torch_load_safe(str(checkpoint))['meta']['iter'])


def _imp_base(layout: DemoLayout, s: DemoSettings, p: str, work: Path, lr: float | None):
    pretrain = runs.read_result(layout.pretrain_work(p))
    cfg = runs.imp_config(s, p, layout.data, work, layout.pretrained(p), Path(pretrain['checkpoint']))
    if lr is not None:
        cfg.optim_wrapper.optimizer.lr = lr
    return cfg


def _without_imp(cfg) -> None:
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'ltcv.IMPHook']


def _imp_rounds(s: DemoSettings, work: Path, rounds: tuple[int, ...]) -> dict:
    """An IMP run's rounds k in ``rounds``: ticket, sparsity, metric and the cost to reach k (rounds 0..k of
    the run's steps; its seconds shared out evenly over its rounds, which all train as long)."""
    result = runs.read_result(work)
    steps = _steps(result['checkpoint'])
    out = {}
    for r in RunRecord.of_work_dir(work).read().records:
        k = int(r['round'])
        if k in rounds:
            share = (k + 1) / (s.imp_rounds + 1)
            out[k] = dict(ticket=r['ticket'], sparsity=r['sparsity'], metric=r['metric'],
                          steps=round(steps * share), seconds=round(result['seconds'] * share, 1))
    return out


def imp_costs(layout: DemoLayout, s: DemoSettings, p: str, lr: float | None = None) -> dict:
    """The demo's own IMP run (or, with ``lr``, ``run_imp``'s), every round (``_imp_rounds``)."""
    work = layout.imp_work(p) if lr is None else method_dir(layout, 'imp', p, lr) / 'imp'
    return _imp_rounds(s, work, tuple(range(1, s.imp_rounds + 1)))


def run_imp(layout: DemoLayout, s: DemoSettings, p: str, rounds: tuple[int, ...], lr: float) -> dict:
    """The demo's IMP run again at rate ``lr``: the reference the other methods at that rate stand beside."""
    work = method_dir(layout, 'imp', p, lr) / 'imp'
    runs.run(_imp_base(layout, s, p, work, lr), work, dict(stage='imp', pretraining=p, lr=lr))
    return _write(layout, 'imp', p, _imp_rounds(s, work, rounds), lr)


def run_gmp(layout: DemoLayout, s: DemoSettings, p: str, rounds: tuple[int, ...], share: float,
            lr: float | None = None) -> dict:
    """One GMP run per IMP round k, to k's sparsity, in ``share`` of the optimizer steps IMP takes to reach it
    (iteration-based: a pruning step every eighth of an epoch over three quarters of the run, the last
    quarter at the final sparsity)."""
    imp = imp_costs(layout, s, p, lr)
    out = {}
    for k in rounds:
        work = method_dir(layout, 'gmp', p, lr) / f'round{k:02d}'
        cfg = _imp_base(layout, s, p, work, lr)
        _without_imp(cfg)
        iters = max(4, round(share * imp[k]['steps']))
        interval = max(1, imp[k]['steps'] // ((k + 1) * s.round_epochs * 8))
        steps = max(1, (iters * 3 // 4) // interval)
        target = imp[k]['sparsity']
        cfg.custom_hooks.append(dict(type='ltcv.GMPHook', final_sparsity=target, steps=steps, interval=interval,
                                     source=p, metric=_metric_name(p)))
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters, max_keep_ckpts=1)
        cfg.log_processor = dict(by_epoch=False)
        result = runs.run(cfg, work, dict(stage='gmp', pretraining=p, round=k))
        ticket = RunRecord.of_work_dir(work).ticket_path(1)
        out[k] = dict(ticket=str(ticket), sparsity=load_ticket(ticket).sparsity,
                      metric=result['metrics'][_metric_name(p)], steps=_steps(result['checkpoint']),
                      seconds=result['seconds'], schedule=dict(iters=iters, interval=interval, steps=steps))
    return _write(layout, 'gmp', p, out, lr)


def run_refill(layout: DemoLayout, s: DemoSettings, p: str, rounds: tuple[int, ...],
               lr: float | None = None) -> dict:
    """The demo's IMP run again with ``refill=True``: every round's ticket in whole channels."""
    work = method_dir(layout, 'refill', p, lr) / 'imp'
    cfg = _imp_base(layout, s, p, work, lr)
    for h in cfg.custom_hooks:
        if h['type'] == 'ltcv.IMPHook':
            h['refill'] = True
    runs.run(cfg, work, dict(stage='imp', pretraining=p, refill=True))
    return _write(layout, 'refill', p, _imp_rounds(s, work, rounds), lr)


def run_soup(layout: DemoLayout, s: DemoSettings, p: str, rounds: tuple[int, ...], copies: int,
             lr: float | None = None) -> dict:
    """IMP with sparse soups, the lottery-ticket way: each round trains ``copies`` copies (seeds seed,
    seed + 1, ...) from the pre-trained weights under the round's ticket, as the demo's IMP trains one;
    the soup (their average) is validated and pruned by ``imp_rate`` into the next round's ticket."""
    base = method_dir(layout, 'soup', p, lr)
    ticket_path: Path | None = None
    steps = seconds = 0.0
    out = {}
    for k in range(max(rounds) + 1):
        ckpts = []
        for i in range(copies):
            work = base / f'round{k:02d}' / f'copy{i}'
            cfg = _imp_base(layout, s, p, work, lr)
            _without_imp(cfg)
            if ticket_path is not None:
                cfg.custom_hooks.append(dict(type='ltcv.MaskApplyHook', ticket=str(ticket_path)))
            cfg.randomness = dict(seed=s.seed + i)
            result = runs.run(cfg, work, dict(stage='soup copy', pretraining=p, round=k, copy=i))
            ckpts.append(result['checkpoint'])
            steps += _steps(result['checkpoint'])
            seconds += result['seconds']
        ticket = load_ticket(ticket_path) if ticket_path else None
        soup_path = base / f'round{k:02d}' / 'soup.pth'
        soup = None
        if not soup_path.is_file():
            soup = average_state_dicts([torch_load_safe(c)['state_dict'] for c in ckpts], ticket, names=ckpts)
            atomic_torch_save({'state_dict': soup}, soup_path)
        metric = _soup_metric(layout, s, p, soup_path, ticket_path, base / f'round{k:02d}' / 'soup_val', lr)
        if k in rounds:
            out[k] = dict(ticket=str(ticket_path), sparsity=ticket.sparsity, metric=metric, steps=int(steps),
                          seconds=round(seconds, 1))
        next_path = base / f'round{k + 1:02d}' / 'ticket.safetensors'
        if k < max(rounds) and not next_path.is_file():
            if soup is None:  # a resumed round: the soup written before
                soup = torch_load_safe(str(soup_path))['state_dict']
            start = ticket if ticket is not None else Ticket.dense(select_prunable(soup), source=p)
            nxt = prune_soup(soup, start, s.imp_rate, copies=copies, where=str(soup_path))
            next_path.parent.mkdir(parents=True, exist_ok=True)
            save_ticket(nxt, next_path, overwrite=True)
        ticket_path = next_path
    return _write(layout, 'soup', p, out, lr)


def copy_metrics(layout: DemoLayout, p: str, k: int, lr: float | None = None) -> list[float]:
    """The metric of each copy of soup round ``k`` on its own: what one IMP-like run under the soup's ticket
    scores, seed to seed (the spread a single run's pre-training metric has)."""
    folder = method_dir(layout, 'soup', p, lr) / f'round{k:02d}'
    return [runs.read_result(c)['metrics'][_metric_name(p)] for c in sorted(folder.glob('copy*'))
            if runs.is_done(c)]


def _soup_metric(layout: DemoLayout, s: DemoSettings, p: str, soup: Path, ticket: Path | None, work: Path,
                 lr: float | None) -> float:
    """The soup's metric on the pre-training task: the copies' config validating the soup (a stock
    ``Runner.val`` from ``load_from``), kept in ``work/metrics.json``."""
    done = work / 'metrics.json'
    if done.is_file():
        return json.loads(done.read_text())[_metric_name(p)]
    import contextlib

    from mmengine.runner import Runner
    cfg = _imp_base(layout, s, p, work, lr)
    _without_imp(cfg)
    if ticket is not None:
        cfg.custom_hooks.append(dict(type='ltcv.MaskApplyHook', ticket=str(ticket)))
    cfg.load_from, cfg.resume = str(soup), False
    if cfg.model.backbone.get('init_cfg'):
        cfg.model.backbone.init_cfg = None  # everything comes from the soup
    work.mkdir(parents=True, exist_ok=True)
    runner = Runner.from_cfg(cfg)
    with open(work / 'stdout.txt', 'a') as log, contextlib.redirect_stdout(log):
        metrics = {k: float(v) for k, v in runner.val().items()}
    atomic_write_bytes(done, json.dumps(metrics, indent=1).encode())
    return metrics[_metric_name(p)]


def _write(layout: DemoLayout, method: str, p: str, out: dict, lr: float | None) -> dict:
    path = method_dir(layout, method, p, lr) / RESULT
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps({str(k): v for k, v in out.items()}, indent=1, allow_nan=False).encode())
    return out


def read(layout: DemoLayout, method: str, p: str, lr: float | None = None) -> dict | None:
    """A finished method's rounds (``None`` if it has not finished)."""
    path = method_dir(layout, method, p, lr) / RESULT
    if not path.is_file():
        return None
    return {int(k): v for k, v in json.loads(path.read_text()).items()}
