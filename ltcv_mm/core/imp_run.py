"""One IMP run as a plain object: its state, its rounds and its pruning step, driven by a trainer's events.

The trainer (``IMPHook`` in mmengine's Runner, or any loop) tells the run
where training is, in epochs or iterations done (``done``), and hands it
what only the trainer has: the prunable weights, the model to rewind, the
validation metrics. The run decides when a round ends, what it records,
which ticket comes next and what the model rewinds to. Its whole state
travels through one ``state_dict()`` / ``load_state_dict()``; the current
ticket is not part of it: the trainer enforces it and saves it beside.

Random draws and decisions that every process must share are made on one
process and handed to all through ``from_rank0``: a function that calls
the thunk it is given on rank 0 and returns that result on every rank
(``single_process`` when there is one).
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from .channel_refill import refill_channels
from .imp_record import RunRecord, finite
from .imp_settings import IMPConfigError, IMPPlan, IMPSettings
from .names import infer_arch
from .strategies import get_strategy
from .ticket import Ticket
from .ticket_file import ticket_from_bytes, ticket_to_bytes

FromRank0 = Callable[[Callable[[], Any]], Any]
CHECKPOINT_KEY = 'ltcv_imp'  # the run's state_dict in a trainer's checkpoint


def saved_rewind_point(checkpoint: Any) -> tuple[str, dict[str, torch.Tensor]] | None:
    """``(mode, weights)`` of the rewind point an IMP run's checkpoint holds, or None (none taken yet)."""
    run = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    rewind = (run or {}).get('rewind') or {}
    return None if rewind.get('snapshot') is None else (rewind.get('mode'), rewind['snapshot'])


def single_process(make: Callable[[], Any]) -> Any:
    """``from_rank0`` of a run with one process."""
    return make()


class IMPRun:
    """The state and steps of one IMP run (``IMPSettings`` says what each setting means).

    Args:
        settings: the run's checked settings.
        record: where its tickets and summary go (None: nowhere).
        writes: whether this process writes them (rank 0 does; the others
            record the same rounds).
        who: the name errors start with.
    """

    def __init__(self, settings: IMPSettings, record: RunRecord | None = None, writes: bool = True,
                 who: str = 'IMP') -> None:
        self.settings, self.record, self.writes, self.who = settings, record, writes, who
        self.strategy = get_strategy(settings.strategy)
        self.rewind = settings.new_rewind_point()
        self.window = settings.new_mask_window()
        self.plan: IMPPlan | None = None  # fixed by start()
        self.by_epoch = True
        # run state, all in state_dict()
        self.round = 0
        self.records: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None  # the current round's best validation (and test metrics)
        self.round_start: int | None = None  # progress where the current round began
        self.checks: list[dict[str, Any]] = []  # the current round's early-bird checks
        self.restart: Any = None  # the trainer's restart state (optimizer, schedulers), kept with the run
        self._rounds_saved: int | None = None
        self._last_val: tuple[int, dict] | None = None

    # -- the plan -----------------------------------------------------------------
    def start(self, configured: int, prunable: int, by_epoch: bool = True, iters_per_epoch: int = 1) -> IMPPlan:
        """Fix the plan for a loop configured to ``configured`` epochs (``by_epoch``) or iterations over
        ``prunable`` weights, and resolve the rewind point. Returns the plan; the run length is ``length``."""
        s, unit = self.settings, 'epochs' if by_epoch else 'iterations'
        self.by_epoch = by_epoch
        self.plan = IMPPlan.make(s, configured, prunable, unit, self.who, rounds=self._rounds_saved)
        if self.round > self.plan.rounds:  # a resumed checkpoint from further on than this run goes
            raise IMPConfigError(f'{self.who}: the checkpoint resumed is in round {self.round}, but this run has '
                                 f'{self.plan.rounds} rounds: resume with the settings that made it (rounds >= '
                                 f'{self.round})')
        if self.round_start is None:  # a fresh run (or a checkpoint from before early-bird rounds)
            self.round_start = self.plan.round_start(self.round)
        first_pruning, at_unit = self.plan.first_pruning, unit
        if s.rewind_unit == 'iters' and by_epoch:  # counted in iterations of the epoch-based loop
            first_pruning, at_unit = first_pruning * iters_per_epoch, 'iterations'
        try:
            self.rewind.resolve(first_pruning)
        except ValueError as e:
            raise IMPConfigError(f'{self.who}: {e} ({at_unit})') from None
        return self.plan

    @property
    def started(self) -> bool:
        return self.plan is not None

    @property
    def length(self) -> int:
        """The run's length as it stands: the current round in full, then every remaining round."""
        return self.plan.length(self.round, self.round_start)

    @property
    def unit(self) -> str:
        return 'epochs' if self.by_epoch else 'iterations'

    def rewind_clock(self, by_epoch: bool) -> bool:
        """Whether the rewind point counts epochs (else iterations), for a loop that is ``by_epoch``."""
        return by_epoch and self.settings.rewind_unit == 'loop'

    # -- events ---------------------------------------------------------------------
    def trained(self, done: int, model: nn.Module) -> None:
        """``done`` epochs / iterations (on the rewind point's clock) are trained: take the rewind point now if due."""
        if self.rewind.due(done):
            self.rewind.capture(model)

    def validated(self, done: int, metrics: dict, model: nn.Module) -> bool:
        """A validation after ``done``; True when it is the round's best so far (then ``tested_at_best``)."""
        self._last_val = (done, dict(metrics))
        key = self.metric_key(metrics)
        value = finite(metrics[key]) if key in metrics and isinstance(metrics[key], (int, float)) else None
        if value is None or (self.best is not None and value <= self.best['metric']):
            return False
        self.best = {'at': done, 'metric': value, 'test': None}
        self.rewind.offer(model, value, self.round)
        return True

    def tested_at_best(self, test: dict | None) -> None:
        self.best['test'] = {k: finite(v) for k, v in (test or {}).items() if isinstance(v, (int, float))}

    def metrics_at(self, done: int) -> dict | None:
        """The metrics of a validation after ``done``, if there was one (else the trainer validates)."""
        return self._last_val[1] if self._last_val is not None and self._last_val[0] == done else None

    def metric_key(self, metrics: dict) -> str | None:
        """The validation metric the run judges rounds by: ``metric``, or the first one reported."""
        return self.settings.metric or next(iter(metrics), None)

    def into_round(self, done: int) -> int:
        return done - self.round_start

    def may_end_round(self, done: int) -> bool:
        """Whether a round other than the last has trained (the last ends with the run)."""
        return self.into_round(done) > 0 and self.round < self.plan.rounds

    def round_is_over(self, done: int) -> bool:
        return self.may_end_round(done) and self.into_round(done) >= self.plan.interval

    def early_bird_says_stop(self, done: int, weights: dict[str, torch.Tensor], ticket: Ticket | None,
                             from_rank0: FromRank0 = single_process) -> bool:
        """Draw the mask the round's pruning would draw now (every early-bird interval) and judge the window."""
        eb, into = self.settings.early_bird, self.into_round(done)
        if not eb or into % eb['interval'] or any(c['at'] == into for c in self.checks):
            return False

        def judge():  # as the pruning itself: rank 0 judges, every rank follows
            distances = self.window.add(self._draw(weights, ticket), ticket)
            # a round may not end before its rewind point exists (round_end is taken at the early end)
            ready = self.rewind.captured or self.settings.rewind_at_round_end
            return distances, self.window.converged and into >= eb['min_progress'] and ready
        distances, stop = from_rank0(judge)
        self.checks.append({'at': into, 'distances': [round(d, 6) for d in distances]})
        return stop

    def finish_round(self, done: int, metrics: dict | None, ticket: Ticket | None, train_loss: float | None = None,
                     iteration: int | None = None) -> dict[str, Any]:
        """Record the round that just ended with its validation ``metrics`` (None: not validated); write its
        ticket file and the summary (with a record folder). Returns the record."""
        metrics = metrics or {}
        key = self.metric_key(metrics)
        if key is not None and key not in metrics:
            raise KeyError(f'{self.who}: metric {key!r} not among the validation metrics {sorted(metrics)}')
        record = {
            'round': self.round,
            'sparsity': ticket.sparsity if ticket is not None else 0.0,
            'density': ticket.density if ticket is not None else 1.0,
            'metric_name': key, 'metric': finite(metrics[key]) if key is not None else None,
            'metrics': {k: finite(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            'train_loss': finite(train_loss) if train_loss is not None else None,
            'ticket': self.record.ticket_path(self.round) if self.round and self.record else None,
            'best': self.best,
            'early_bird': self._early_bird_record(done, iteration),
        }
        self.records.append(record)
        self.best = None
        if self.record is not None and self.writes:
            if self.round:
                self.record.save_ticket(self.described(ticket, record), self.round)
            self.record.write_summary(self.summary_settings(), self.records)
        return record

    def finished(self, done: int) -> bool:
        """Whether the run has trained its last round, which is not recorded yet."""
        return done == self.length and self.round == self.plan.rounds and len(self.records) == self.round

    def prune(self, model: nn.Module, weights: dict[str, torch.Tensor], ticket: Ticket | None, done: int,
              from_rank0: FromRank0 = single_process) -> Ticket:
        """End the round: draw the next ticket (on rank 0), rewind ``model`` in place and open the next round.

        The trainer then enforces the ticket returned, restarts its optimizer
        and schedulers, and runs the new round to ``length``.
        """
        new = ticket_from_bytes(from_rank0(lambda: ticket_to_bytes(self._draw(weights, ticket))),
                                path='broadcast ticket')
        if not self.rewind.captured:
            raise IMPConfigError(f'{self.who}: round {self.round} ended before the rewind point '
                                 f'(rewind_at={self.rewind.at!r}) was taken: with round_best, round 0 must '
                                 f'validate with a finite {self.settings.metric or "first"} metric')
        self.round += 1
        self.rewind.restore(model)
        self._last_val = None
        self.round_start = done
        if self.window is not None:
            self.window.reset()
            self.checks = []
        return new

    def _draw(self, weights: dict[str, torch.Tensor], ticket: Ticket | None) -> Ticket:
        gen = torch.Generator().manual_seed(self.settings.seed + self.round)
        drawn = self.strategy(weights, ticket or Ticket.dense(weights), self.settings.rate, gen)
        return refill_channels(drawn, weights) if self.settings.refill else drawn

    def describe(self, weights: dict[str, torch.Tensor]) -> str:
        """The run as planned, for its log."""
        return (f'{self.plan.rounds} pruning rounds of {self.plan.interval} {self.unit} (run length {self.length}), '
                f'{len(weights)} prunable layers ({sum(w.numel() for w in weights.values()):,} weights), '
                f'{self.settings.describe(self.unit)}' + (f'; resuming in round {self.round}' if self.round else ''))

    # -- what is recorded ----------------------------------------------------------
    def _early_bird_record(self, done: int, iteration: int | None) -> dict | None:
        """How the round ended: its length, whether early, at which global iteration, and every check."""
        if not self.settings.early_bird or (self.settings.prune_first and self.round == 0):
            return None
        length = self.into_round(done)
        return {'length': length, 'ended_early': length < self.plan.interval, 'iteration': iteration,
                'checks': copy.deepcopy(self.checks)}

    def described(self, ticket: Ticket, record: dict) -> Ticket:
        """The ticket of a finished round with its provenance: the one place an IMP ticket's metadata is set."""
        s = self.settings
        return Ticket(ticket.masks, {
            'arch': infer_arch(ticket.shapes), 'source': s.source, 'round': record['round'],
            'rate': s.rate, 'strategy': s.strategy, 'rewind': s.rewind, 'scope': s.scope,
            'metric_name': record['metric_name'], 'metric': record['metric'],
            **({'refill': 'channels', 'kept_channels': ticket.meta.get('kept_channels')} if s.refill else {})})

    def summary_settings(self) -> dict[str, Any]:
        s = self.settings
        return {'rate': s.rate, 'strategy': s.strategy, 'refill': s.refill, 'interval': self.plan.interval,
                'by_epoch': self.by_epoch, 'rounds': self.plan.rounds, 'rewind': s.rewind,
                'rewind_at': self.rewind.at, 'rewind_unit': s.rewind_unit, 'rewind_keys': list(s.rewind_keys),
                'prune_first': s.prune_first, 'restart_optimizer': s.restart_optimizer, 'scope': s.scope,
                'early_bird': s.early_bird, 'source': s.source}

    # -- resume ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the run needs to resume (the checkpoint entry ``ltcv_imp`` of IMPHook runs)."""
        return {'round': self.round, 'rounds': self.plan.rounds if self.plan else self._rounds_saved,
                'records': copy.deepcopy(self.records), 'restart': self.restart,
                'rewind': self.rewind.state_dict(), 'best': copy.deepcopy(self.best),
                'round_start': self.round_start,
                'early_bird': None if self.window is None else {
                    'window': self.window.state_dict(), 'checks': copy.deepcopy(self.checks)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run ``state`` saved; call before ``start``."""
        self.round = int(state['round'])
        self.records = list(state['records'])
        self.restart = state['restart']
        self.rewind.load_state_dict(state['rewind'])
        self.best = state.get('best')
        self.round_start = state.get('round_start')
        if self.window is not None and state.get('early_bird'):
            self.window.load_state_dict(state['early_bird']['window'])
            self.checks = list(state['early_bird']['checks'])
        if self.settings.rounds is None:  # a target_sparsity or fitted count: as the run first fixed it
            self._rounds_saved = state['rounds']
