"""An IMP run's curve, read from its record (``ltcv_mm.core.imp_record``): metric against sparsity,
and the sparsest ticket that still matches the dense round (tools/analyze_imp.py, the demo)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.imp_record import RunRecord, is_number


@dataclass
class IMPCurve:
    """One IMP run: per round its sparsity and the value judged (metric, or train loss)."""
    path: Path
    name: str                  # what the values are, e.g. 'accuracy/top1' or 'train loss'
    higher_is_better: bool
    rounds: list[int]
    sparsity: list[float]
    values: list[float | None]    # None: recorded as null (NaN or missing)
    tickets: list[str | None]

    @property
    def dense(self) -> float:
        return self.values[0]

    def matches_dense(self, value: float | None, tolerance: float) -> bool:
        """Within ``tolerance`` (same units as the values) of round 0, or better; a missing value never."""
        if value is None:
            return False
        if self.higher_is_better:
            return value >= self.dense - tolerance
        return value <= self.dense + tolerance

    def winning(self, tolerance: float) -> int | None:
        """Index of the sparsest round that matches the dense round (None if no later round does).

        Rounds in between may miss by noise; the sparsest match is what the
        paper reports as the extreme winning ticket.
        """
        best = None
        for i in range(1, len(self.rounds)):
            if self.matches_dense(self.values[i], tolerance):
                if best is None or self.sparsity[i] > self.sparsity[best]:
                    best = i
        return best


def read_curve(work_dir: str | Path, metric: str | None = None) -> IMPCurve:
    """The run's curve: its validation metric (``metric`` or the one IMPHook recorded), or its
    train loss when the run had no validation (self-supervised pre-training)."""
    run = RunRecord.find(work_dir).read()
    path, records = run.path, run.records
    if not records or records[0]['round'] != 0:
        raise ValueError(f'{path}: the dense round 0 has not finished yet')
    if metric is None:
        metric = records[0].get('metric_name')
    if metric:
        missing = [r['round'] for r in records if metric not in r.get('metrics', {})]
        if missing:
            known = sorted(records[0].get('metrics', {}))
            raise KeyError(f'{path}: metric {metric!r} not recorded for rounds {missing}; recorded: {known}')
        values = [r['metrics'][metric] for r in records]
        name, higher = metric, 'loss' not in metric
    else:
        values = [r.get('train_loss') for r in records]
        name, higher = 'train loss', False
    bad = [(r['round'], v) for r, v in zip(records, values) if v is not None and not is_number(v)]
    if bad:
        raise ValueError(f'{path}: {name} of round {bad[0][0]} is {bad[0][1]!r}, not a number')
    if values[0] is None:
        raise ValueError(f'{path}: the dense round 0 has no {name} (recorded as null: NaN or missing), '
                         f'so no round can be judged against it')
    return IMPCurve(path, name, higher, [r['round'] for r in records], [r['sparsity'] for r in records],
                    values, [r.get('ticket') for r in records])
