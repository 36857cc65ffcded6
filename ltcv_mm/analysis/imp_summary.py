"""An IMP run's summary, ``imp_summary.json`` and ``.csv``: written here (IMPHook) and read here
(tools/analyze_imp.py, the demo): metric against sparsity, and the sparsest ticket that still matches.

The JSON holds the run's settings and one record per finished round:
``round``, ``sparsity``, ``density``, ``metric_name``, ``metric`` (null when
NaN or missing), ``metrics`` (every validation metric), ``train_loss`` and
``ticket`` (the round's ticket file; null for the dense round 0) and ``best``
(the round's best validation: ``at`` (epochs or iterations of the run),
``metric``, and ``test``, the test metrics at that point when IMPHook runs
with ``test_at_best``; null without validation) and ``early_bird`` (with
IMPHook's ``early_bird``: the round's ``length`` in epochs or iterations,
``ended_early``, the global ``iteration`` where it ended, and its ``checks``:
``at`` (epochs or iterations into the round) and the ``distances`` from that
mask to the earlier ones of the window; null otherwise). The CSV is the same
records, one row each, for spreadsheets; ``test_at_best`` is the test value of
the metric at the round's best validation (the seed code's downstream figure),
``round_length`` and ``ended_early`` come from ``early_bird``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..core.atomic import atomic_write_bytes

SUMMARY_JSON = 'imp_summary.json'
SUMMARY_CSV = 'imp_summary.csv'
CSV_COLUMNS = ('round', 'sparsity', 'metric_name', 'metric', 'train_loss', 'ticket', 'best_metric', 'best_at',
               'test_at_best', 'round_length', 'ended_early')


def finite(value) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (a diverged round, an empty-class mIoU)."""
    value = float(value)
    return value if math.isfinite(value) else None


def write_summary(folder: str | Path, settings: dict[str, Any], records: Sequence[dict[str, Any]]) -> Path:
    """Write (atomically) both files of a run: ``settings`` and the ``records`` so far. Returns the JSON path."""
    folder = Path(folder)
    summary = {**settings, 'records': list(records)}
    _records(folder / SUMMARY_JSON, summary)  # what is written can be read back
    path = atomic_write_bytes(folder / SUMMARY_JSON,
                              json.dumps(summary, indent=1, allow_nan=False).encode())  # valid JSON, always
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        best = r.get('best') or {}
        test = (best.get('test') or {}).get(r['metric_name'])
        early = r.get('early_bird') or {}
        writer.writerow([r['round'], f'{r["sparsity"]:.6f}', r['metric_name'] or '',
                         '' if r['metric'] is None else r['metric'],
                         '' if r['train_loss'] is None else r['train_loss'], r['ticket'] or '',
                         best.get('metric', ''), best.get('at', ''), '' if test is None else test,
                         early.get('length', ''), early.get('ended_early', '')])
    atomic_write_bytes(folder / SUMMARY_CSV, buf.getvalue().encode())
    return path


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


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _records(path: Path, summary) -> list[dict]:
    """The summary's records, each checked for the fields the curve reads."""
    records = summary.get('records') if isinstance(summary, dict) else None
    if not isinstance(records, list):
        raise ValueError(f'{path}: not an IMP summary (no list of records)')
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not isinstance(r.get('round'), int) or not _is_number(r.get('sparsity')):
            raise ValueError(f'{path}: record {i} is not an IMP round record (round, sparsity, metrics): {r!r}')
        if not isinstance(r.get('metrics', {}), dict):
            raise ValueError(f'{path}: record {i} has metrics {r["metrics"]!r}, not a table')
    return records


def find_summary(work_dir: str | Path) -> Path:
    """imp_summary.json of a run: the file itself, WORK_DIR/tickets/, or WORK_DIR/."""
    p = Path(work_dir)
    for candidate in (p, p / 'tickets' / SUMMARY_JSON, p / SUMMARY_JSON):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f'{work_dir}: no imp_summary.json there or in its tickets/ folder '
                            '(IMPHook writes it after each round)')


def read_curve(work_dir: str | Path, metric: str | None = None) -> IMPCurve:
    """The run's curve: its validation metric (``metric`` or the one IMPHook recorded), or its
    train loss when the run had no validation (self-supervised pre-training)."""
    path = find_summary(work_dir)
    try:
        summary = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f'{path}: not an IMP summary ({e})') from None
    records = _records(path, summary)
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
    bad = [(r['round'], v) for r, v in zip(records, values) if v is not None and not _is_number(v)]
    if bad:
        raise ValueError(f'{path}: {name} of round {bad[0][0]} is {bad[0][1]!r}, not a number')
    if values[0] is None:
        raise ValueError(f'{path}: the dense round 0 has no {name} (recorded as null: NaN or missing), '
                         f'so no round can be judged against it')
    return IMPCurve(path, name, higher, [r['round'] for r in records], [r['sparsity'] for r in records],
                    values, [r.get('ticket') for r in records])
