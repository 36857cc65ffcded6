"""IMPHook: iterative magnitude pruning inside a stock mmengine train loop."""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import os.path as osp
from typing import Any, Sequence

import torch
from mmengine.dist import broadcast_object_list, get_rank, is_main_process
from mmengine.hooks import Hook

from ..core import (Ticket, get_strategy, infer_arch, save_ticket, select_prunable, ticket_from_bytes,
                    ticket_to_bytes)
from ..core.atomic import atomic_write_bytes
from ..core.names import DEFAULT_EXCLUDE
from ..core.strategies import check_rate, count_to_prune
from ..registry import HOOKS
from .mask_apply_hook import MaskApplyHook
from .rewind_hook import ROUND_END, RewindHook
from .runner_access import by_epoch, ema_models, find_hook, progress, unwrap

CHECKPOINT_KEY = 'ltcv_imp'
ROUND_INFO_KEY = 'ltcv_imp_round'


class IMPConfigError(ValueError):
    """An IMP set-up that cannot work, found before training starts."""


def _finite(value) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (a diverged round, an empty-class mIoU)."""
    value = float(value)
    return value if math.isfinite(value) else None


@HOOKS.register_module()
class IMPHook(Hook):
    """Iterative magnitude pruning, one round every ``interval`` epochs (or iterations).

    Round 0 trains the model as it starts (dense, or with MaskApplyHook's
    ticket). At the end of each round the hook takes the round's validation
    metric, prunes ``rate`` of the remaining weights (rank 0 decides, every
    rank receives the same masks), saves the new ticket, rewinds the model
    through RewindHook, hands the ticket to MaskApplyHook, and restarts the
    optimizer state and every parameter scheduler. After the last round it
    writes ``imp_summary.json`` and ``imp_summary.csv`` beside the tickets.

    The hook owns the run's length: ``(rounds + 1) * interval``. By default
    the configured run (``train_cfg.max_epochs`` / ``max_iters``) is one
    round, so a stock config's schedule and its parameter schedulers (whose
    ``end`` defaults to that length) replay in every round, as in the paper's
    downstream IMP. With an explicit ``interval`` and neither ``rounds`` nor
    ``target_sparsity``, as many rounds are fitted as the configured run holds.

    Args:
        interval: epochs (epoch-based loop) or iterations (iteration-based)
            per round; default: the configured run length.
        rounds: pruning steps; the last ticket is trained for one more round.
        target_sparsity: instead of ``rounds``: prune until at least this sparsity.
        rate: fraction of the remaining weights removed per round.
        strategy: ``global_magnitude`` (the paper), ``layerwise_magnitude``,
            ``random_global`` or ``random_layerwise``.
        include, exclude: canonical-name patterns of the prunable convs
            (default: every conv but the stem).
        prefix: which copy of the backbone decides the masks (default the
            first ResNet in the model, ``backbone.``); the masks then apply to
            every copy (MaskApplyHook).
        metric: key of the validation metric to record (default: the first).
        save_dir: where tickets and the summary go (default ``work_dir/tickets``).
        source: the pre-training recorded in the tickets (``supervised``, ``simclr``, ...).
        seed: seed of the random strategies (plus the round index).
    """

    priority = 'NORMAL'

    def __init__(self, interval: int | None = None, rounds: int | None = None, target_sparsity: float | None = None,
                 rate: float = 0.2, strategy: str = 'global_magnitude',
                 include: Sequence[str] = ('*',), exclude: Sequence[str] = DEFAULT_EXCLUDE,
                 prefix: str | None = None, metric: str | None = None, save_dir: str | None = None,
                 source: str | None = None, seed: int = 0) -> None:
        for key, value in (('interval', interval), ('rounds', rounds), ('seed', seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise IMPConfigError(f'IMPHook: {key} must be a whole number, got {value!r}')
        for key, value in (('target_sparsity', target_sparsity), ('rate', rate)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise IMPConfigError(f'IMPHook: {key} must be a number, got {value!r} ({type(value).__name__})')
        if interval is not None and int(interval) < 1:
            raise IMPConfigError(f'IMPHook: interval must be >= 1, got {interval}')
        if interval is None and rounds is None and target_sparsity is None:
            raise IMPConfigError('IMPHook: set rounds or target_sparsity (each round then lasts the '
                                 'configured run), or an interval')
        if rounds is not None and target_sparsity is not None:
            raise IMPConfigError('IMPHook: give rounds or target_sparsity, not both')
        if rounds is not None and int(rounds) < 1:
            raise IMPConfigError(f'IMPHook: rounds must be >= 1, got {rounds}')
        if target_sparsity is not None and not 0.0 < target_sparsity < 1.0:
            raise IMPConfigError(f'IMPHook: target_sparsity must be in (0, 1), got {target_sparsity}')
        self.interval = None if interval is None else int(interval)
        self.rounds = None if rounds is None else int(rounds)
        self.target_sparsity = target_sparsity
        self.rate = check_rate(rate)
        self.strategy = strategy
        self.step = get_strategy(strategy)
        self.include, self.exclude = tuple(include), tuple(exclude)
        self.prefix = prefix
        self.metric = metric
        self.save_dir = save_dir
        self.source = source
        self.seed = seed
        # run state, saved in checkpoints
        self.round = 0
        self.records: list[dict[str, Any]] = []
        self._restart_state: dict[str, Any] | None = None
        self._last_val: tuple[int, dict] | None = None

    # -- set-up, before the first iteration ---------------------------------
    def before_train(self, runner) -> None:
        self.masker = find_hook(runner, MaskApplyHook)
        self.rewinder = find_hook(runner, RewindHook)
        missing = [n for n, h in (('MaskApplyHook', self.masker), ('RewindHook', self.rewinder)) if h is None]
        if missing:
            raise IMPConfigError(
                f'IMPHook needs {" and ".join(missing)} in custom_hooks, e.g. '
                f"dict(type='ltcv.MaskApplyHook'), dict(type='ltcv.RewindHook', mode='pt') "
                f"(or inherit configs/_base_/imp.py)")
        self.epochs = by_epoch(runner)
        unit = 'epochs' if self.epochs else 'iterations'
        weights = self._prunable(runner)
        if not weights:
            raise IMPConfigError(
                f'IMPHook: no prunable parameter matched include={list(self.include)} '
                f'exclude={list(self.exclude)} prefix={self.prefix!r}: the model has no ResNet conv '
                f'weight under those patterns')
        left_dense = sorted(set(select_prunable(dict(unwrap(runner.model).named_parameters()),
                                                prefix=self.prefix)) - set(weights))
        if left_dense:  # include / exclude leave these layers out of every ticket: MaskApplyHook may too
            self.masker.dense = sorted(set(self.masker.dense or ()) | set(left_dense))
        if self.masker.ticket is not None:
            for name in self.masker.ticket.masks:
                if name not in weights:
                    raise IMPConfigError(f'IMPHook: the starting ticket covers {name!r}, which is not '
                                         f'among the prunable parameters')
        total = self._run_length(runner, weights, unit)
        if self.rewinder.rewind_at == ROUND_END:
            self.rewinder.rewind_at = self.interval
        self._check_schedulers(runner, unit)
        self._check_metric_name(runner)
        if self.rewinder.rewind_at > self.interval:
            raise IMPConfigError(
                f'IMPHook: the rewind point ({self.rewinder.rewind_at} {unit}) is later than the first '
                f'pruning (after {self.interval} {unit}); rewind_at must be <= interval')
        self._set_run_length(runner, total)
        self.work_dir = self.save_dir or osp.join(runner.work_dir, 'tickets')
        if self._restart_state is None:  # a fresh run; resumed runs restored it
            self._restart_state = {
                'optim': copy.deepcopy(runner.optim_wrapper.state_dict()),
                'schedulers': [copy.deepcopy(s.state_dict()) for s in self._schedulers(runner)]}
        runner.message_hub.update_info(ROUND_INFO_KEY, self.round)
        runner.logger.info(
            f'IMP: {self.rounds} pruning rounds of {self.interval} {unit} (run length {total} {unit}), '
            f'rate {self.rate}, strategy {self.strategy}, {len(weights)} prunable layers '
            f'({sum(w.numel() for w in weights.values()):,} weights), rewind {self.rewinder.mode}'
            + (f' at {self.rewinder.rewind_at} {unit}' if self.rewinder.rewind_at else '')
            + f'; tickets in {self.work_dir}' + (f'; resuming in round {self.round}' if self.round else ''))

    def _prunable(self, runner) -> dict[str, torch.Tensor]:
        params = dict(unwrap(runner.model).named_parameters())
        return select_prunable(params, include=self.include, exclude=self.exclude, prefix=self.prefix)

    def _run_length(self, runner, weights, unit: str) -> int:
        configured = runner.train_loop.max_epochs if self.epochs else runner.train_loop.max_iters
        if self.interval is None:
            self.interval = configured
        if self.rounds is None and self.target_sparsity is not None:
            kept = total = sum(w.numel() for w in weights.values())
            self.rounds = 0
            while 1.0 - kept / total < self.target_sparsity:
                step = count_to_prune(self.rate, kept)
                if step == 0:  # round(rate * kept) is 0 from here on: pruning stops for good
                    raise IMPConfigError(
                        f'IMPHook: target_sparsity {self.target_sparsity} cannot be reached at rate '
                        f'{self.rate}: once {kept} of the {total:,} weights are left, a round removes '
                        f'round({self.rate} * {kept}) = 0; the highest reachable sparsity is '
                        f'{1.0 - kept / total:.6%} (after {self.rounds} rounds)')
                kept -= step
                self.rounds += 1
        elif self.rounds is None:
            if self.interval > configured:
                raise IMPConfigError(f'IMPHook: interval ({self.interval} {unit}) is longer than the run '
                                     f'({configured} {unit})')
            self.rounds = configured // self.interval - 1
            if self.rounds < 1:
                raise IMPConfigError(f'IMPHook: a run of {configured} {unit} holds no pruning round '
                                     f'of {self.interval} {unit} followed by training: make it at least '
                                     f'{2 * self.interval} {unit}, or set rounds')
        return (self.rounds + 1) * self.interval

    def _check_schedulers(self, runner, unit: str) -> None:
        for sched in self._schedulers(runner):
            if sched.end < self.interval or sched.begin >= self.interval:
                runner.logger.warning(
                    f'IMP: {type(sched).__name__} spans [{sched.begin}, {sched.end}) {unit} but restarts '
                    f'every round of {self.interval} {unit}: it will stop or never start within a '
                    f'round. Schedulers should describe one round.')

    def _check_metric_name(self, runner) -> None:
        """Refuse before training a ``metric`` that none of the evaluator's metrics can report.

        Evaluators name their results only when they run; but every result
        key of a metric with a prefix starts with ``prefix/``, so a name
        under none of the prefixes can never appear.
        """
        loop = runner.val_loop if self.metric is not None else None
        metrics = getattr(getattr(loop, 'evaluator', None), 'metrics', None) or []
        prefixes = [getattr(m, 'prefix', None) for m in metrics]
        if prefixes and all(prefixes) and self.metric.split('/')[0] not in prefixes:
            raise IMPConfigError(
                f'IMPHook: metric {self.metric!r} cannot come from the validation evaluator, whose metrics '
                f'report {", ".join(repr(p + "/...") for p in prefixes)} only: name one of those keys '
                f'(as the log prints them after a validation, e.g. {prefixes[0] + "/top1"!r})')

    def _set_run_length(self, runner, total: int) -> None:
        loop = runner.train_loop
        if self.epochs:
            loop._max_epochs = total
            loop._max_iters = total * len(loop.dataloader)
        else:
            loop._max_iters = total

    @staticmethod
    def _schedulers(runner) -> list:
        scheds = runner.param_schedulers or []
        if isinstance(scheds, dict):
            return [s for group in scheds.values() for s in group]
        return list(scheds)

    # -- rounds -------------------------------------------------------------
    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if metrics is not None and hasattr(self, 'epochs'):  # only inside a training run
            self._last_val = (progress(runner, self.epochs), dict(metrics))

    def before_train_epoch(self, runner) -> None:
        if self.epochs:
            self._maybe_end_round(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not self.epochs:
            self._maybe_end_round(runner)

    def _maybe_end_round(self, runner) -> None:
        done = progress(runner, self.epochs)
        if done == 0 or done % self.interval or done // self.interval != self.round + 1:
            return
        self._record_round(runner, done)
        self._prune_and_rewind(runner)
        self._write_summary(runner)

    def after_train(self, runner) -> None:
        done = progress(runner, self.epochs)
        if done == (self.round + 1) * self.interval and len(self.records) == self.round:
            self._record_round(runner, done)
        self._write_summary(runner)
        runner.logger.info(f'IMP: finished, summary in {osp.join(self.work_dir, "imp_summary.json")}')

    def _round_metrics(self, runner, done: int) -> dict:
        """The validation metrics of the round that just ended (validating now if needed)."""
        if self._last_val is not None and self._last_val[0] == done:
            return self._last_val[1]
        if runner.val_loop is None:
            return {}
        metrics = runner.val_loop.run()  # the model is still the one this round trained
        return dict(metrics or {})

    def _record_round(self, runner, done: int) -> None:
        metrics = self._round_metrics(runner, done)
        ticket = self.masker.ticket
        key = self.metric or (next(iter(metrics)) if metrics else None)
        if key is not None and key not in metrics:
            raise KeyError(f'IMPHook: metric {key!r} not among the validation metrics {sorted(metrics)}')
        value = _finite(metrics[key]) if key is not None else None
        if key is not None and value is None:
            runner.logger.warning(f'IMP: round {self.round}: validation metric {key} = {metrics[key]} is not a '
                                  f'finite number; recorded as missing (null), the run goes on')
        loss = runner.message_hub.get_scalar('train/loss') if 'train/loss' in runner.message_hub.log_scalars else None
        record = {
            'round': self.round,
            'sparsity': ticket.sparsity if ticket is not None else 0.0,
            'density': ticket.density if ticket is not None else 1.0,
            'metric_name': key, 'metric': value,
            'metrics': {k: _finite(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            'train_loss': _finite(loss.mean(10)) if loss is not None else None,
            'ticket': self._ticket_path(self.round) if self.round else None,
        }
        self.records.append(record)
        if self.round:  # the finished ticket (and its file) now learns its metric
            ticket.meta.update(metric=value, metric_name=key)
            if is_main_process():
                save_ticket(ticket, record['ticket'], overwrite=True)
        runner.logger.info(f'IMP: round {self.round} done: sparsity {record["sparsity"]:.4%}, '
                           f'{key or "no metric"} = {value}')
        scalars = {'imp/sparsity': record['sparsity'], 'imp/round': float(self.round)}
        if value is not None:
            scalars['imp/metric'] = value
        runner.visualizer.add_scalars(scalars, step=runner.iter)

    def _ticket_path(self, round_idx: int) -> str:
        return osp.join(self.work_dir, f'ticket_round{round_idx:02d}.safetensors')

    def _prune_and_rewind(self, runner) -> None:
        weights = self._prunable(runner)
        payload = [None]
        if get_rank() == 0:  # rank 0 decides, every rank gets the same masks
            current = self.masker.ticket or Ticket.dense(weights)
            gen = torch.Generator().manual_seed(self.seed + self.round)
            ticket = self.step(weights, current, self.rate, gen)
            payload = [ticket_to_bytes(ticket)]
        broadcast_object_list(payload, src=0)
        ticket = ticket_from_bytes(payload[0], path='broadcast ticket')
        self.round += 1
        ticket.meta.update(round=self.round, rate=self.rate, strategy=self.strategy,
                           arch=infer_arch(ticket.shapes), source=self.source, metric=None)
        if is_main_process():
            save_ticket(ticket, self._ticket_path(self.round), overwrite=True)
        self.rewinder.rewind(runner)
        for ema in ema_models(runner):  # averages restart from the rewound weights
            ema.module.load_state_dict(unwrap(runner.model).state_dict())
            if hasattr(ema, 'steps'):
                ema.steps.zero_()
        self.masker.set_ticket(runner, ticket)
        runner.optim_wrapper.load_state_dict(copy.deepcopy(self._restart_state['optim']))
        for sched, state in zip(self._schedulers(runner), self._restart_state['schedulers']):
            sched.load_state_dict(copy.deepcopy(state))
        self._last_val = None
        runner.message_hub.update_info(ROUND_INFO_KEY, self.round)
        runner.logger.info(f'IMP: pruned to sparsity {ticket.sparsity:.4%} (round {self.round} of '
                           f'{self.rounds}), rewound ({self.rewinder.mode}), optimizer and schedulers '
                           f'restarted; ticket {self._ticket_path(self.round)}')

    def _write_summary(self, runner) -> None:
        if not is_main_process():
            return
        summary = {'rate': self.rate, 'strategy': self.strategy, 'interval': self.interval,
                   'by_epoch': self.epochs, 'rounds': self.rounds, 'rewind': self.rewinder.mode,
                   'source': self.source, 'records': self.records}
        atomic_write_bytes(osp.join(self.work_dir, 'imp_summary.json'),
                           json.dumps(summary, indent=1, allow_nan=False).encode())  # valid JSON, always
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(['round', 'sparsity', 'metric_name', 'metric', 'train_loss', 'ticket'])
        for r in self.records:
            writer.writerow([r['round'], f'{r["sparsity"]:.6f}', r['metric_name'] or '',
                             '' if r['metric'] is None else r['metric'],
                             '' if r['train_loss'] is None else r['train_loss'], r['ticket'] or ''])
        atomic_write_bytes(osp.join(self.work_dir, 'imp_summary.csv'), buf.getvalue().encode())

    # -- resume -------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {'round': self.round, 'rounds': self.rounds,
                                      'records': copy.deepcopy(self.records),
                                      'restart': self._restart_state}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        if runner._resume and saved is not None:
            self.round = int(saved['round'])
            self.records = list(saved['records'])
            self._restart_state = saved['restart']
            if self.rounds is None:
                self.rounds = saved['rounds']
