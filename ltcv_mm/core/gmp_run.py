"""Gradual magnitude pruning (Zhu & Gupta, 2017) as a plain object: its cubic schedule, its pruning steps and
the tickets it writes on the way.

One training run: dense until ``start``, then a pruning step every
``interval`` (iterations or epochs, as the trainer counts) raising the
sparsity on the cubic schedule from ``initial`` to ``final`` in ``steps``
steps, then training at ``final`` to the end. Each step prunes with an IMP
strategy (exact-k selection) from the current weights and mask; the trainer
enforces the mask between steps. A ticket file is written at each sparsity
in ``save_at`` the first time the schedule reaches it, drawn at exactly that
sparsity from the same weights and mask as that step (for magnitude
strategies it holds the step's own mask). The files and the summary go
through ``RunRecord`` as IMP's do, one "round" per saved sparsity, so every
tool that reads IMP runs reads GMP runs.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .imp_record import RunRecord, finite
from .imp_run import FromRank0, single_process
from .names import infer_arch
from .strategies import get_strategy
from .ticket import Ticket
from .ticket_file import ticket_from_bytes, ticket_to_bytes

CHECKPOINT_KEY = 'ltcv_gmp'  # the run's state_dict in a trainer's checkpoint


@dataclass(frozen=True)
class CubicSchedule:
    """s_t = final + (initial - final) * (1 - (t - start) / (steps * interval))^3 at t = start + j * interval,
    j = 0 .. steps; dense before ``start``, ``final`` from ``start + steps * interval`` on."""
    final: float
    start: int
    interval: int
    steps: int
    initial: float = 0.0

    def __post_init__(self) -> None:
        for name in ('start', 'interval', 'steps'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f'GMP schedule: {name} must be a whole number, got {value!r}')
        if not 0.0 <= self.initial < self.final < 1.0:
            raise ValueError(f'GMP schedule: need 0 <= initial < final < 1, got initial={self.initial}, '
                             f'final={self.final}')
        if self.start < 0 or self.interval < 1 or self.steps < 1:
            raise ValueError(f'GMP schedule: need start >= 0, interval >= 1, steps >= 1, got start={self.start}, '
                             f'interval={self.interval}, steps={self.steps}')

    @property
    def end(self) -> int:
        """Progress of the last pruning step."""
        return self.start + self.steps * self.interval

    def target(self, j: int) -> float:
        """The sparsity of pruning step ``j`` (0 .. steps)."""
        return self.final + (self.initial - self.final) * (1.0 - j / self.steps) ** 3

    def points(self) -> list[tuple[int, float]]:
        """Every pruning step: (progress, sparsity)."""
        return [(self.start + j * self.interval, self.target(j)) for j in range(self.steps + 1)]

    def sparsity_at(self, done: int) -> float:
        """The sparsity in force after ``done`` (that of the last step at or before it; 0 before ``start``)."""
        if done < self.start:
            return 0.0
        return self.target(min(self.steps, (done - self.start) // self.interval))


def pruned_count(sparsity: float, numel: int) -> int:
    """Weights a ticket at ``sparsity`` prunes of ``numel`` (Python's round, as IMP's counts)."""
    return round(sparsity * numel)


class GMPRun:
    """The state and steps of one GMP run, driven by a trainer's events (``GMPHook`` in mmengine's Runner).

    Args:
        schedule: when and how far to prune.
        strategy: an IMP strategy (``global_magnitude``, ``layerwise_magnitude``, the random baselines).
        save_at: sparsities to write a ticket at (each in (0, final]; default: ``final``).
        record: where the tickets and the summary go (None: nowhere).
        writes: whether this process writes them (rank 0 does).
        seed: the random strategies' draws (step ``j`` uses ``seed + j``).
        source: the pre-training the run starts from, for the tickets' provenance.
        unit: what ``done`` counts ('iterations' or 'epochs'), for the provenance.
        who: the name errors start with.
    """

    def __init__(self, schedule: CubicSchedule, strategy: str = 'global_magnitude', save_at=None,
                 record: RunRecord | None = None, writes: bool = True, seed: int = 0, source: str | None = None,
                 unit: str = 'iterations', who: str = 'GMP') -> None:
        self.schedule, self.strategy_name, self.who = schedule, strategy, who
        self.strategy = get_strategy(strategy)
        save_at = (schedule.final,) if save_at is None else tuple(float(s) for s in save_at)
        bad = [s for s in save_at if not 0.0 < s <= schedule.final]
        if bad or not save_at or len(set(save_at)) != len(save_at):
            raise ValueError(f'{who}: save_at must be distinct sparsities in (0, final={schedule.final}], '
                             f'got {list(save_at)}')
        self.save_at = tuple(sorted(save_at))
        self.record, self.writes, self.seed, self.source, self.unit = record, writes, seed, source, unit
        # run state, all in state_dict()
        self.step = 0  # the next pruning step (steps + 1: all done)
        self.records: list[dict[str, Any]] = []

    # -- events ---------------------------------------------------------------------
    def due(self, done: int) -> bool:
        """Whether a pruning step is due after ``done`` epochs / iterations."""
        return self.step <= self.schedule.steps and done >= self.schedule.start + self.step * self.schedule.interval

    def prune(self, weights: dict[str, torch.Tensor], ticket: Ticket | None, done: int,
              from_rank0: FromRank0 = single_process) -> Ticket:
        """Take every pruning step due after ``done`` (drawn on rank 0, the same on every rank) and write the
        tickets they reach; returns the mask the trainer enforces from now on."""
        while self.due(done):
            j = self.step
            base = ticket if ticket is not None else Ticket.dense(weights)
            target = self.schedule.target(j)
            for sparsity in self.save_at[len(self.records):]:
                if sparsity > target + 1e-12:
                    break
                saved = from_rank0(lambda s=sparsity: ticket_to_bytes(self._draw(weights, base, s, j)))
                self._save(ticket_from_bytes(saved, path='broadcast ticket'), sparsity, j, done)
            ticket = ticket_from_bytes(from_rank0(lambda: ticket_to_bytes(self._draw(weights, base, target, j))),
                                       path='broadcast ticket')
            self.step += 1
        return ticket

    def finished(self, metrics: dict | None, metric: str | None = None) -> None:
        """The run has ended: the last saved ticket (at ``final``, trained there to the end) gets the run's
        last validation ``metrics``, judged by ``metric`` (default: the first)."""
        if not self.records or not metrics or self.records[-1]['sparsity_target'] != self.schedule.final:
            return
        key = metric or next(iter(metrics))
        if key not in metrics:
            raise KeyError(f'{self.who}: metric {key!r} not among the validation metrics {sorted(metrics)}')
        self.records[-1].update(metric_name=key, metric=finite(metrics[key]),
                                metrics={k: finite(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        self._write_summary()

    def _draw(self, weights: dict[str, torch.Tensor], base: Ticket, sparsity: float, j: int) -> Ticket:
        """The mask at ``sparsity`` from ``base`` (nothing revived: at most as dense as ``base``)."""
        keep = base.numel - pruned_count(sparsity, base.numel)
        if keep >= base.kept:
            return base
        gen = torch.Generator().manual_seed(self.seed + j)
        return self.strategy(weights, base, (base.kept - keep) / base.kept, gen)

    def _save(self, ticket: Ticket, sparsity: float, j: int, done: int) -> None:
        index = len(self.records) + 1
        record = {'round': index, 'sparsity': ticket.sparsity, 'density': ticket.density,
                  'sparsity_target': sparsity, 'step': j, 'at': done, 'metric_name': None, 'metric': None,
                  'metrics': {}, 'train_loss': None,
                  'ticket': self.record.ticket_path(index) if self.record else None}
        self.records.append(record)
        if self.record is not None and self.writes:
            self.record.save_ticket(self.described(ticket, record), index)
            self._write_summary()

    def _write_summary(self) -> None:
        if self.record is not None and self.writes:
            self.record.write_summary(self.summary_settings(), self.records)

    # -- what is recorded ----------------------------------------------------------
    def described(self, ticket: Ticket, record: dict) -> Ticket:
        """A saved ticket with its provenance: the one place a GMP ticket's metadata is set."""
        return Ticket(ticket.masks, {
            'arch': infer_arch(ticket.shapes), 'source': self.source, 'round': record['round'],
            'method': 'gmp', 'strategy': self.strategy_name, 'rewind': 'none',
            'schedule': {**asdict(self.schedule), 'unit': self.unit},
            'at': record['at'], 'step': record['step'], 'sparsity_target': record['sparsity_target']})

    def summary_settings(self) -> dict[str, Any]:
        return {'method': 'gmp', 'strategy': self.strategy_name, 'schedule': asdict(self.schedule),
                'unit': self.unit, 'save_at': list(self.save_at), 'seed': self.seed, 'source': self.source}

    # -- resume ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the run needs to resume (the checkpoint entry ``ltcv_gmp`` of GMPHook runs)."""
        return {'step': self.step, 'records': copy.deepcopy(self.records),
                'schedule': asdict(self.schedule), 'save_at': list(self.save_at), 'strategy': self.strategy_name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run ``state`` saved, which must have the same schedule, save_at and strategy."""
        mine = {'schedule': asdict(self.schedule), 'save_at': list(self.save_at), 'strategy': self.strategy_name}
        theirs = {k: state.get(k) for k in mine}
        if theirs != mine:
            changed = sorted(k for k in mine if mine[k] != theirs[k])
            raise ValueError(f'{self.who}: the checkpoint resumed was made with other settings ({", ".join(changed)}:'
                             f' {[theirs[k] for k in changed]} there, {[mine[k] for k in changed]} here)')
        self.step = int(state['step'])
        self.records = list(state['records'])
