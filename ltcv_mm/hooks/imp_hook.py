"""IMPHook: one iterative-magnitude-pruning run inside a stock mmengine train loop, owned by one hook."""
from __future__ import annotations

import copy
import os.path as osp
from typing import Any, Sequence

import torch
from mmengine.dist import broadcast_object_list, get_rank, is_main_process

from ..analysis.imp_summary import SUMMARY_JSON, finite, write_summary
from ..core import Ticket, get_strategy, infer_arch, save_ticket, select_prunable, ticket_from_bytes, ticket_to_bytes
from ..core.early_bird import MaskWindow
from ..core.names import DEFAULT_EXCLUDE, FINAL_LAYERS, pattern_list, select_model_prunable
from ..core.rewind import ROUND_BEST, ROUND_END, RewindPoint
from ..core.strategies import check_rate, count_to_prune
from ..registry import HOOKS
from .mask_apply_hook import MaskApplyHook
from .runner_access import by_epoch, ema_models, progress, schedulers, set_run_length, unwrap

CHECKPOINT_KEY = 'ltcv_imp'
ROUND_INFO_KEY = 'ltcv_imp_round'


class IMPConfigError(ValueError):
    """An IMP set-up that cannot work, found before training starts."""


def _check_types(**values) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if key in ('interval', 'rounds', 'seed'):
            if isinstance(value, bool) or not isinstance(value, int):
                raise IMPConfigError(f'IMPHook: {key} must be a whole number, got {value!r}')
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise IMPConfigError(f'IMPHook: {key} must be a number, got {value!r} ({type(value).__name__})')


def _early_bird_options(options: dict | None) -> dict | None:
    """``early_bird`` checked and completed: interval (required), window, eps, min_progress."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise IMPConfigError(f'IMPHook: early_bird must be a dict (interval, window, eps, min_progress), '
                             f'got {options!r}')
    unknown = sorted(set(options) - {'interval', 'window', 'eps', 'min_progress'})
    if unknown:
        raise IMPConfigError(f'IMPHook: early_bird has unknown keys {unknown}; it takes interval, window, eps '
                             f'and min_progress')
    if 'interval' not in options:
        raise IMPConfigError('IMPHook: early_bird needs an interval (epochs or iterations between two masks)')
    options = {'window': 5, 'eps': 0.1, 'min_progress': 0, **options}
    for key in ('interval', 'min_progress'):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (key == 'interval'):
            raise IMPConfigError(f'IMPHook: early_bird {key} must be a whole number >= {int(key == "interval")}, '
                                 f'got {value!r}')
    try:
        MaskWindow(options['window'], options['eps'])
    except ValueError as e:
        raise IMPConfigError(f'IMPHook: {e}') from None
    return options


@HOOKS.register_module()
class IMPHook(MaskApplyHook):
    """Iterative magnitude pruning, one round every ``interval`` epochs (or iterations).

    The hook owns the run: its rounds, its current ticket (which it enforces
    as MaskApplyHook does, in the model and its EMA copies), its rewind
    point, the pruning, the ticket files and the summary. Round 0 trains the
    model as it starts (dense, or under ``ticket``). At the end of each round
    the hook records the round's validation metric, writes the round's ticket
    file, prunes ``rate`` of the remaining weights (rank 0 decides, every rank
    receives the same masks), rewinds the model, restarts the optimizer state
    and every parameter scheduler, and trains the new ticket. The summary
    (``imp_summary.json`` / ``.csv``) is rewritten after every round.

    The configured run (``train_cfg.max_epochs`` / ``max_iters``) is one
    round by default, so a stock config's schedule and its parameter
    schedulers (whose ``end`` defaults to that length) replay in every round,
    as in the paper's downstream IMP; the hook extends the run to
    ``(rounds + 1) * interval``. With an explicit ``interval`` and neither
    ``rounds`` nor ``target_sparsity``, as many rounds are fitted as the
    configured run holds. Everything the run needs to resume (round, records,
    rewind point, restart state, ticket) is saved in every checkpoint.

    Args:
        interval: epochs (epoch-based loop) or iterations (iteration-based)
            per round; default: the configured run length.
        rounds: pruning steps; the last ticket is trained for one more round.
        target_sparsity: instead of ``rounds``: prune until at least this sparsity.
        rate: fraction of the remaining weights removed per round.
        strategy: a registered strategy (``ltcv_mm.core.STRATEGIES``):
            ``global_magnitude`` (the paper), ``layerwise_magnitude``,
            ``random_global``, ``random_layerwise``, ``random_like``, ``semi_structured_2_4``.
        rewind: ``pt``, ``pt_trans``, ``lt`` or ``rewind_lt``
            (``ltcv_mm.core.rewind.MODES``).
        rewind_at: epochs or iterations before the rewind point is taken: 0
            (the start), up to ``interval``, ``'round_end'`` (the end of the
            dense round 0) or ``'round_best'`` (the weights of round 0's best
            validation, as the seed code's downstream ``pt``).
        rewind_unit: ``'loop'`` (default: ``rewind_at`` counts epochs in an
            epoch-based loop, iterations in an iteration-based one) or
            ``'iters'``: iterations in either, for late resetting inside the
            first epoch of a detector (Girish et al., CVPR 2021).
        rewind_keys: patterns of the model's state keys that are rewound
            (default all; the seed's SimCLR rewinds ``backbone.*`` only).
        prune_first: prune the starting weights before any training (round 0
            only validates them), as the seed code's ImageNet, SimCLR and MoCo
            IMP; the run is then ``rounds * interval`` long.
        restart_optimizer: give every round a fresh optimizer state (default);
            False keeps it across prunings (the seed's SimCLR and MoCo), the
            pruned weights' entries zeroed.
        test_at_best: also run the test loop whenever a round's validation
            metric is the best of that round, and record the test metrics at
            the round's best validation (the seed code's downstream report).
        include, exclude: canonical-name patterns of the prunable convs
            (default: every conv but the stem); the others stay dense.
        scope: ``'backbone'`` (default: the ResNet's convs) or ``'model'``:
            also every conv and linear weight outside it (a detector's neck
            and heads), under one global ranking, keyed by full name in the
            tickets; the layers matching ``keep_dense`` stay dense (by
            default the last classifier and box / mask / segmentation
            layers of the stock heads, as Girish et al., CVPR 2021).
        prefix: which copy of the backbone decides the masks (default the
            first ResNet in the model, ``backbone.``); the masks then apply to
            every copy.
        metric: key of the validation metric to record (default: the first).
        save_dir: where tickets and the summary go (default ``work_dir/tickets``).
        source: the pre-training recorded in the tickets (``supervised``, ``simclr``, ...).
        seed: seed of the random strategies (plus the round index).
        early_bird: end a round early once its pruning step's mask stops
            changing (You et al., ICLR 2020; ``ltcv_mm.core.early_bird``):
            ``dict(interval, window=5, eps=0.1, min_progress=0)``. Every
            ``interval`` epochs or iterations of a round the hook draws the
            mask the step would draw now; when the distances from the newest
            to the ``window - 1`` before it are all below ``eps``, and the
            round has trained ``min_progress`` or more, the round ends there:
            it is validated, and that mask is its pruning. The run shortens by
            what the round did not train. The last round (the final ticket's
            training) always runs in full. Off by default.
        ticket, prefixes, mask_after_step: as MaskApplyHook (``ticket``: the
            starting ticket of round 0).
    """

    def __init__(self, interval: int | None = None, rounds: int | None = None, target_sparsity: float | None = None,
                 rate: float = 0.2, strategy: str = 'global_magnitude', rewind: str = 'pt',
                 rewind_at: int | str = 0, include: Sequence[str] = ('*',), exclude: Sequence[str] = DEFAULT_EXCLUDE,
                 prefix: str | None = None, metric: str | None = None, save_dir: str | None = None,
                 source: str | None = None, seed: int = 0, ticket: str | None = None,
                 prefixes: Sequence[str] | None = None, mask_after_step: bool | str = 'auto',
                 rewind_keys: Sequence[str] = ('*',), prune_first: bool = False, restart_optimizer: bool = True,
                 test_at_best: bool = False, rewind_unit: str = 'loop', scope: str = 'backbone',
                 keep_dense: Sequence[str] = FINAL_LAYERS, early_bird: dict | None = None) -> None:
        _check_types(interval=interval, rounds=rounds, seed=seed, target_sparsity=target_sparsity, rate=rate)
        for key, value in (('prune_first', prune_first), ('restart_optimizer', restart_optimizer),
                           ('test_at_best', test_at_best)):
            if not isinstance(value, bool):  # 'no' is true in Python: never read a string as a switch
                raise IMPConfigError(f'IMPHook: {key} must be True or False, got {value!r}')
        for key, value in (('metric', metric), ('save_dir', save_dir), ('source', source), ('prefix', prefix)):
            if value is not None and not isinstance(value, str):  # found only after training otherwise
                raise IMPConfigError(f'IMPHook: {key} must be a string, got {value!r}')
        if not 0 <= seed < 2 ** 63:  # torch.Generator's range, checked before round 0 trains
            raise IMPConfigError(f'IMPHook: seed must be in [0, 2**63), got {seed}')
        if interval is not None and interval < 1:
            raise IMPConfigError(f'IMPHook: interval must be >= 1, got {interval}')
        if interval is None and rounds is None and target_sparsity is None:
            raise IMPConfigError('IMPHook: set rounds or target_sparsity (each round then lasts the '
                                 'configured run), or an interval')
        if rounds is not None and target_sparsity is not None:
            raise IMPConfigError('IMPHook: give rounds or target_sparsity, not both')
        if rounds is not None and rounds < 1:
            raise IMPConfigError(f'IMPHook: rounds must be >= 1, got {rounds}')
        if target_sparsity is not None and not 0.0 < target_sparsity < 1.0:
            raise IMPConfigError(f'IMPHook: target_sparsity must be in (0, 1), got {target_sparsity}')
        super().__init__(ticket=ticket, prefixes=prefixes, mask_after_step=mask_after_step)
        try:
            self.rate = check_rate(rate)
            self.step = get_strategy(strategy)
            self.rewind = RewindPoint(rewind, rewind_at, rewind_keys)
        except (ValueError, KeyError) as e:
            raise IMPConfigError(f'IMPHook: {e.args[0]}') from None
        self.interval, self.rounds, self.target_sparsity = interval, rounds, target_sparsity
        if rewind_unit not in ('loop', 'iters'):
            raise IMPConfigError(f"IMPHook: rewind_unit must be 'loop' or 'iters', got {rewind_unit!r}")
        if rewind_unit == 'iters' and isinstance(rewind_at, str):
            raise IMPConfigError(f"IMPHook: rewind_unit='iters' needs rewind_at as a count, got {rewind_at!r}")
        self.rewind_unit = rewind_unit
        if scope not in ('backbone', 'model'):
            raise IMPConfigError(f"IMPHook: scope must be 'backbone' or 'model', got {scope!r}")
        self.scope, self.keep_dense = scope, pattern_list(keep_dense, 'IMPHook keep_dense')
        if prune_first and rewind_at not in (0, 'round_end'):
            raise IMPConfigError(f'IMPHook: prune_first prunes before any training, so the rewind point can only '
                                 f'be the start (rewind_at=0), not {rewind_at!r}')
        self.prune_first, self.restart_optimizer, self.test_at_best = prune_first, restart_optimizer, test_at_best
        self.early_bird = _early_bird_options(early_bird)
        self._rewind_at_round_end = rewind_at == ROUND_END
        self.strategy = strategy
        self.include = pattern_list(include, 'IMPHook include')
        self.exclude = pattern_list(exclude, 'IMPHook exclude')
        self.prefix = prefix
        self.metric = metric
        self.save_dir = save_dir
        self.source = source
        self.seed = seed
        # run state, saved in checkpoints (the ticket by MaskApplyHook)
        self.round = 0
        self.records: list[dict[str, Any]] = []
        self._restart_state: dict[str, Any] | None = None
        self._last_val: tuple[int, dict] | None = None
        self._best: dict[str, Any] | None = None  # the current round's best validation (and test metrics)
        self._testing = False  # inside test_at_best's test loop
        self._round_start: int | None = None  # progress where the current round began
        self._window = MaskWindow(self.early_bird['window'], self.early_bird['eps']) if self.early_bird else None
        self._checks: list[dict[str, Any]] = []  # the current round's early-bird checks

    # -- set-up, before the first iteration ---------------------------------
    def before_run(self, runner) -> None:
        others = [type(h).__name__ for h in runner.hooks if isinstance(h, MaskApplyHook) and h is not self]
        if others:
            raise IMPConfigError(
                f'IMPHook enforces the ticket of its run itself: remove {" and ".join(others)} from '
                f"custom_hooks (a ticket to start from goes to IMPHook: dict(type='ltcv.IMPHook', "
                f"ticket=...)); see the README, 'IMP configs'")
        # include / exclude leave these layers out of every ticket: enforcing the ticket (also the
        # one a resumed checkpoint brings, checked when it loads) may leave them dense too
        weights = self._prunable(runner)
        self.dense = sorted(set(select_prunable(dict(unwrap(runner.model).named_parameters()),
                                                prefix=self.prefix)) - set(weights)) or None

    def before_train(self, runner) -> None:
        self.epochs = by_epoch(runner)
        unit = 'epochs' if self.epochs else 'iterations'
        weights = self._prunable(runner)
        if not weights:
            raise IMPConfigError(
                f'IMPHook: no prunable parameter matched include={list(self.include)} '
                f'exclude={list(self.exclude)} prefix={self.prefix!r}: the model has no ResNet conv '
                f'weight under those patterns')
        if self.ticket is not None:
            for name in self.ticket.masks:
                if name not in weights:
                    raise IMPConfigError(f'IMPHook: the starting ticket covers {name!r}, which is not '
                                         f'among the prunable parameters')
        self._run_length(runner, weights, unit)
        if self._round_start is None:  # a fresh run (or a checkpoint from before early-bird rounds)
            self._round_start = max(self.round + self._lead - 1, 0) * self.interval
        total = self._planned_length()
        if self.early_bird and self.early_bird['interval'] >= self.interval:
            raise IMPConfigError(f'IMPHook: early_bird interval ({self.early_bird["interval"]} {unit}) must be '
                                 f'shorter than the round ({self.interval} {unit}), or no mask is drawn inside it')
        first_pruning, at_unit = 0 if self.prune_first else self.interval, unit
        if self.rewind_unit == 'iters' and self.epochs:  # counted in iterations of the epoch-based loop
            first_pruning, at_unit = first_pruning * len(runner.train_dataloader), 'iterations'
        try:
            self.rewind.resolve(first_pruning)
        except ValueError as e:
            raise IMPConfigError(f'IMPHook: {e} ({at_unit})') from None
        self._check_loops(runner)
        self._check_schedulers(runner, unit)
        self._check_metric_name(runner)
        set_run_length(runner, total)
        self.work_dir = self.save_dir or osp.join(runner.work_dir, 'tickets')
        if self._restart_state is None:  # a fresh run; resumed runs restored it
            self._restart_state = {
                'optim': copy.deepcopy(runner.optim_wrapper.state_dict()),
                'schedulers': [copy.deepcopy(s.state_dict()) for s in schedulers(runner)]}
        super().before_train(runner)  # the ticket now holds in the model and its copies
        self._capture_if_due(runner, progress(runner, self.epochs and self.rewind_unit == 'loop'))
        runner.message_hub.update_info(ROUND_INFO_KEY, self.round)
        if self.prune_first and self.round == 0 and not self.records:  # state 0: judge, prune, no training
            self._finish_round(runner, 0)
            self._prune_and_rewind(runner)
        runner.logger.info(
            f'IMP: {self.rounds} pruning rounds of {self.interval} {unit} (run length {total} {unit}), '
            f'rate {self.rate}, strategy {self.strategy}, {len(weights)} prunable layers '
            f'({sum(w.numel() for w in weights.values()):,} weights), rewind {self.rewind.mode}'
            + (f' at {self.rewind.at} {"iterations" if self.rewind_unit == "iters" else unit}'
               if self.rewind.at else '')
            + (', pruning before any training' if self.prune_first else '')
            + ('' if self.restart_optimizer else ', optimizer state kept across rounds')
            + (f', early-bird rounds (a mask every {self.early_bird["interval"]} {unit}, window '
               f'{self.early_bird["window"]}, eps {self.early_bird["eps"]})' if self.early_bird else '')
            + f'; tickets in {self.work_dir}' + (f'; resuming in round {self.round}' if self.round else ''))

    def _prunable(self, runner) -> dict[str, torch.Tensor]:
        params = dict(unwrap(runner.model).named_parameters())
        weights = select_prunable(params, include=self.include, exclude=self.exclude, prefix=self.prefix)
        if self.scope == 'model':
            weights.update(select_model_prunable(params, self.keep_dense))
        return weights

    def _run_length(self, runner, weights, unit: str) -> int:
        configured = runner.train_loop.max_epochs if self.epochs else runner.train_loop.max_iters
        if self.interval is None:
            self.interval = configured
        if self.rounds is None and self.target_sparsity is not None:
            self.rounds = self._rounds_to_target(sum(w.numel() for w in weights.values()))
        elif self.rounds is None:
            if self.interval > configured:
                raise IMPConfigError(f'IMPHook: interval ({self.interval} {unit}) is longer than the run '
                                     f'({configured} {unit})')
            self.rounds = configured // self.interval - 1
            if self.rounds < 1:
                raise IMPConfigError(f'IMPHook: a run of {configured} {unit} holds no pruning round '
                                     f'of {self.interval} {unit} followed by training: make it at least '
                                     f'{2 * self.interval} {unit}, or set rounds')

    def _planned_length(self) -> int:
        """The run's length as it stands: the current round in full, then every remaining round."""
        rounds_left = self.rounds - self.round + (0 if self.prune_first and self.round == 0 else 1)
        return self._round_start + rounds_left * self.interval

    @property
    def _lead(self) -> int:
        """Trained rounds before the first pruning: 1, or 0 with ``prune_first``."""
        return 0 if self.prune_first else 1

    def _check_loops(self, runner) -> None:
        if self.rewind.at == ROUND_BEST and runner.val_loop is None:
            raise IMPConfigError("IMPHook: rewind_at='round_best' needs a validation loop (val_dataloader, "
                                 "val_cfg, val_evaluator) to find round 0's best weights")
        if self.test_at_best and runner.test_loop is None:
            raise IMPConfigError('IMPHook: test_at_best needs a test loop (test_dataloader, test_cfg, '
                                 'test_evaluator)')

    def _rounds_to_target(self, total: int) -> int:
        kept, rounds = total, 0
        while 1.0 - kept / total < self.target_sparsity:
            step = count_to_prune(self.rate, kept)
            if step == 0:  # round(rate * kept) is 0 from here on: pruning stops for good
                raise IMPConfigError(
                    f'IMPHook: target_sparsity {self.target_sparsity} cannot be reached at rate '
                    f'{self.rate}: once {kept} of the {total:,} weights are left, a round removes '
                    f'round({self.rate} * {kept}) = 0; the highest reachable sparsity is '
                    f'{1.0 - kept / total:.6%} (after {rounds} rounds)')
            kept -= step
            rounds += 1
        return rounds

    def _check_schedulers(self, runner, unit: str) -> None:
        for sched in schedulers(runner):
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

    # -- the rewind point -----------------------------------------------------
    def _capture_if_due(self, runner, done: int) -> None:
        if self.rewind.due(done):
            self.rewind.capture(unwrap(runner.model))

    # The loops count an iteration or epoch as done only after its after_* hooks: hence + 1.
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)  # masks first: capture masked weights
        if not self.epochs or self.rewind_unit == 'iters':
            self._capture_if_due(runner, runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        if self.epochs and self.rewind_unit == 'loop':
            self._capture_if_due(runner, runner.epoch + 1)

    # -- rounds -------------------------------------------------------------
    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if metrics is None or not hasattr(self, 'epochs') or self._testing:  # only inside a training run
            return
        done = progress(runner, self.epochs)
        self._last_val = (done, dict(metrics))
        key = self._metric_key(metrics)
        value = finite(metrics[key]) if key in metrics and isinstance(metrics[key], (int, float)) else None
        if value is None or (self._best is not None and value <= self._best['metric']):
            return
        self._best = {'at': done, 'metric': value, 'test': None}
        self.rewind.offer(unwrap(runner.model), value, self.round)
        if self.test_at_best:
            self._testing = True  # the test loop's own hooks must not count as a validation
            try:
                test = runner.test_loop.run()
            finally:
                self._testing = False
            runner.model.train()
            self._best['test'] = {k: finite(v) for k, v in (test or {}).items() if isinstance(v, (int, float))}

    def before_train_epoch(self, runner) -> None:
        if self.epochs:
            self._maybe_end_round(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not self.epochs:
            self._maybe_end_round(runner)

    def _maybe_end_round(self, runner) -> None:
        done = progress(runner, self.epochs)
        into = done - self._round_start
        if into <= 0 or self.round >= self.rounds:  # the last round ends with the run (after_train)
            return
        if into < self.interval and not self._early_bird_says_stop(runner, into):
            return
        if not self.rewind.captured and self._rewind_at_round_end:  # round 0 ended early: its end is now
            self.rewind.capture(unwrap(runner.model))
        self._finish_round(runner, done)
        self._prune_and_rewind(runner)

    def _early_bird_says_stop(self, runner, into: int) -> bool:
        """Draw the mask the round's pruning would draw now (every ``interval``) and judge the window."""
        if not self.early_bird or into % self.early_bird['interval'] or any(c['at'] == into for c in self._checks):
            return False
        payload = [None]
        if get_rank() == 0:  # as the pruning itself: rank 0 judges, every rank follows
            weights = self._prunable(runner)
            gen = torch.Generator().manual_seed(self.seed + self.round)
            drawn = self.step(weights, self.ticket or Ticket.dense(weights), self.rate, gen)
            distances = self._window.add(drawn, self.ticket)
            # a round may not end before its rewind point exists (round_end is taken at the early end)
            ready = self.rewind.captured or self._rewind_at_round_end
            payload = [(distances, self._window.converged and into >= self.early_bird['min_progress'] and ready)]
        broadcast_object_list(payload, src=0)
        distances, stop = payload[0]
        self._checks.append({'at': into, 'distances': [round(d, 6) for d in distances]})
        if stop:
            runner.logger.info(f'IMP: early bird: round {self.round} ends after {into} of {self.interval} '
                               f'{"epochs" if self.epochs else "iterations"}: its last {len(distances) + 1} masks '
                               f'differ by at most {max(distances):.4f} (eps {self.early_bird["eps"]})')
        return stop

    def after_train(self, runner) -> None:
        done = progress(runner, self.epochs)
        if done == self._planned_length() and self.round == self.rounds and len(self.records) == self.round:
            self._finish_round(runner, done)
        runner.logger.info(f'IMP: finished, summary in {osp.join(self.work_dir, SUMMARY_JSON)}')

    def _metric_key(self, metrics: dict) -> str | None:
        """The validation metric the run judges rounds by: ``metric``, or the first one reported."""
        return self.metric or next(iter(metrics), None)

    def _round_metrics(self, runner, done: int) -> dict:
        """The validation metrics of the round that just ended (validating now if needed)."""
        if self._last_val is not None and self._last_val[0] == done:
            return self._last_val[1]
        if runner.val_loop is None:
            return {}
        metrics = runner.val_loop.run()  # the model is still the one this round trained
        # ValLoop leaves the model in eval mode; an iteration-based loop set train mode before
        # this hook, so without this the next iteration would train with frozen BatchNorm.
        runner.model.train()
        return dict(metrics or {})

    def _finish_round(self, runner, done: int) -> None:
        """Record the round that just ended, write its ticket file (complete, once) and the summary."""
        metrics = self._round_metrics(runner, done)
        key = self._metric_key(metrics)
        if key is not None and key not in metrics:
            raise KeyError(f'IMPHook: metric {key!r} not among the validation metrics {sorted(metrics)}')
        value = finite(metrics[key]) if key is not None else None
        if key is not None and value is None:
            runner.logger.warning(f'IMP: round {self.round}: validation metric {key} = {metrics[key]} is not a '
                                  f'finite number; recorded as missing (null), the run goes on')
        loss = runner.message_hub.get_scalar('train/loss') if 'train/loss' in runner.message_hub.log_scalars else None
        record = {
            'round': self.round,
            'sparsity': self.ticket.sparsity if self.ticket is not None else 0.0,
            'density': self.ticket.density if self.ticket is not None else 1.0,
            'metric_name': key, 'metric': value,
            'metrics': {k: finite(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            'train_loss': finite(loss.mean(10)) if loss is not None else None,
            'ticket': self._ticket_path(self.round) if self.round else None,
            'best': self._best,
            'early_bird': self._early_bird_record(runner, done),
        }
        self.records.append(record)
        self._best = None
        if is_main_process():
            if self.round:
                save_ticket(self._described(self.ticket, record), record['ticket'], overwrite=True)
            write_summary(self.work_dir, self._settings(), self.records)
        runner.logger.info(f'IMP: round {self.round} done: sparsity {record["sparsity"]:.4%}, '
                           f'{key or "no metric"} = {value}')
        scalars = {'imp/sparsity': record['sparsity'], 'imp/round': float(self.round)}
        if value is not None:
            scalars['imp/metric'] = value
        runner.visualizer.add_scalars(scalars, step=runner.iter)

    def _early_bird_record(self, runner, done: int) -> dict | None:
        """How the round ended: its length, whether early, at which global iteration, and every check."""
        if not self.early_bird or (self.prune_first and self.round == 0):
            return None
        length = done - self._round_start
        return {'length': length, 'ended_early': length < self.interval, 'iteration': runner.iter,
                'checks': copy.deepcopy(self._checks)}

    def _described(self, ticket: Ticket, record: dict) -> Ticket:
        """The ticket of a finished round with its provenance: the one place an IMP ticket's metadata is set."""
        return Ticket(ticket.masks, {
            'arch': infer_arch(ticket.shapes), 'source': self.source, 'round': record['round'],
            'rate': self.rate, 'strategy': self.strategy, 'rewind': self.rewind.mode, 'scope': self.scope,
            'metric_name': record['metric_name'], 'metric': record['metric']})

    def _settings(self) -> dict[str, Any]:
        return {'rate': self.rate, 'strategy': self.strategy, 'interval': self.interval,
                'by_epoch': self.epochs, 'rounds': self.rounds, 'rewind': self.rewind.mode,
                'rewind_at': self.rewind.at, 'rewind_unit': self.rewind_unit, 'rewind_keys': list(self.rewind.keys),
                'prune_first': self.prune_first, 'restart_optimizer': self.restart_optimizer, 'scope': self.scope,
                'early_bird': self.early_bird, 'source': self.source}

    def _ticket_path(self, round_idx: int) -> str:
        return osp.join(self.work_dir, f'ticket_round{round_idx:02d}.safetensors')

    def _prune_and_rewind(self, runner) -> None:
        weights = self._prunable(runner)
        payload = [None]
        if get_rank() == 0:  # rank 0 decides, every rank gets the same masks
            current = self.ticket or Ticket.dense(weights)
            gen = torch.Generator().manual_seed(self.seed + self.round)
            payload = [ticket_to_bytes(self.step(weights, current, self.rate, gen))]
        broadcast_object_list(payload, src=0)
        ticket = ticket_from_bytes(payload[0], path='broadcast ticket')
        self.round += 1
        model = unwrap(runner.model)
        if not self.rewind.captured:
            raise IMPConfigError(f'IMPHook: round {self.round - 1} ended before the rewind point '
                                 f'(rewind_at={self.rewind.at!r}) was taken: with round_best, round 0 must '
                                 f'validate with a finite {self.metric or "first"} metric')
        self.rewind.restore(model)
        for ema in ema_models(runner):  # averages restart from the rewound weights
            ema.module.load_state_dict(model.state_dict())
            if hasattr(ema, 'steps'):
                ema.steps.zero_()
        if self.restart_optimizer:
            runner.optim_wrapper.load_state_dict(copy.deepcopy(self._restart_state['optim']))
        for sched, state in zip(schedulers(runner), self._restart_state['schedulers']):
            sched.load_state_dict(copy.deepcopy(state))
        self.set_ticket(runner, ticket)  # zeroes the pruned weights and their (restarted) optimizer state
        self._last_val = None
        self._round_start = progress(runner, self.epochs)
        if self._window is not None:
            self._window.reset()
            self._checks = []
        set_run_length(runner, self._planned_length())  # shorter when the round ended early
        runner.message_hub.update_info(ROUND_INFO_KEY, self.round)
        runner.logger.info(f'IMP: pruned to sparsity {ticket.sparsity:.4%} (round {self.round} of '
                           f'{self.rounds}), rewound ({self.rewind.mode}), '
                           + ('optimizer and schedulers restarted' if self.restart_optimizer
                              else 'schedulers restarted, optimizer state kept'))

    # -- resume -------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        super().before_save_checkpoint(runner, checkpoint)
        checkpoint[CHECKPOINT_KEY] = {'round': self.round, 'rounds': self.rounds,
                                      'records': copy.deepcopy(self.records),
                                      'restart': self._restart_state, 'rewind': self.rewind.state_dict(),
                                      'best': copy.deepcopy(self._best), 'round_start': self._round_start,
                                      'early_bird': None if self._window is None else {
                                          'window': self._window.state_dict(), 'checks': copy.deepcopy(self._checks)}}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        super().after_load_checkpoint(runner, checkpoint)
        saved = checkpoint.get(CHECKPOINT_KEY)
        if runner._resume and saved is not None:
            self.round = int(saved['round'])
            self.records = list(saved['records'])
            self._restart_state = saved['restart']
            self.rewind.load_state_dict(saved['rewind'])
            self._best = saved.get('best')
            self._round_start = saved.get('round_start')
            if self._window is not None and saved.get('early_bird'):
                self._window.load_state_dict(saved['early_bird']['window'])
                self._checks = list(saved['early_bird']['checks'])
            if self.rounds is None:
                self.rounds = saved['rounds']
