"""What an IMP run leaves on disk, in one place: its record folder, the ticket file names, the summary.

The record folder (``WORK_DIR/tickets`` unless the run says otherwise) holds

- ``ticket_roundNN.safetensors``: the ticket of round NN (NN >= 1; round 0
  is the dense or starting model and has no file), written once the round
  has trained and been validated;
- ``imp_summary.json``: the run's settings and one record per finished
  round, rewritten (atomically) after every round: ``round``, ``sparsity``,
  ``density``, ``metric_name``, ``metric`` (null when NaN or missing),
  ``metrics`` (every validation metric), ``train_loss``, ``ticket`` (the
  round's ticket file; null for round 0), ``best`` (the round's best
  validation: ``at`` (epochs or iterations of the run), ``metric``, and
  ``test``, the test metrics there with ``test_at_best``; null without
  validation) and ``early_bird`` (with early-bird rounds: the round's
  ``length``, ``ended_early``, the global ``iteration`` where it ended and
  its ``checks``, each ``at`` (into the round) with the ``distances`` from
  that mask to the earlier ones of the window; null otherwise);
- ``imp_summary.csv``: the same records, one row each, for spreadsheets
  (``test_at_best`` is the test value of the metric at the round's best
  validation, the seed code's downstream figure).

Every writer and reader of these files goes through this module: IMP itself,
tools/ticket.py and tools/analyze_imp.py, the demo, the benchmarks and the
GPU check.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .atomic import atomic_write_bytes
from .ticket import Ticket
from .ticket_file import save_ticket

RECORD_DIR = 'tickets'
SUMMARY_JSON = 'imp_summary.json'
SUMMARY_CSV = 'imp_summary.csv'
CSV_COLUMNS = ('round', 'sparsity', 'metric_name', 'metric', 'train_loss', 'ticket', 'best_metric', 'best_at',
               'test_at_best', 'round_length', 'ended_early')


def finite(value) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (a diverged round, an empty-class mIoU)."""
    value = float(value)
    return value if math.isfinite(value) else None


def ticket_name(round_idx: int) -> str:
    """The file name of round ``round_idx``'s ticket."""
    return f'ticket_round{round_idx:02d}.safetensors'


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_records(path: Path | str, summary: Any) -> list[dict]:
    """The summary's records, each checked for the fields the readers use."""
    records = summary.get('records') if isinstance(summary, dict) else None
    if not isinstance(records, list):
        raise ValueError(f'{path}: not an IMP summary (no list of records)')
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not isinstance(r.get('round'), int) or not is_number(r.get('sparsity')):
            raise ValueError(f'{path}: record {i} is not an IMP round record (round, sparsity, metrics): {r!r}')
        if not isinstance(r.get('metrics', {}), dict):
            raise ValueError(f'{path}: record {i} has metrics {r["metrics"]!r}, not a table')
        if not 0.0 <= r['sparsity'] <= 1.0:
            raise ValueError(f'{path}: record {i} (round {r["round"]}) has sparsity {r["sparsity"]!r}, outside [0, 1]')
        if i and r['round'] <= records[i - 1]['round']:
            raise ValueError(f'{path}: record {i} is round {r["round"]} after round {records[i - 1]["round"]}; '
                             f'rounds must increase')
    return records


class RunRecord:
    """The record folder of one IMP run, to write (IMP) or to read (everything else).

    Args:
        folder: the record folder itself (``WORK_DIR/tickets`` by default;
            ``of_work_dir`` builds that).
    """

    def __init__(self, folder: str | Path, summary: str | Path | None = None) -> None:
        self.folder = folder
        self._summary = Path(summary) if summary is not None else None

    @classmethod
    def of_work_dir(cls, work_dir: str | Path) -> 'RunRecord':
        """The record of a run whose work_dir is ``work_dir`` and whose record folder is the default one."""
        return cls(osp.join(work_dir, RECORD_DIR))

    @classmethod
    def find(cls, path: str | Path) -> 'RunRecord':
        """The record a user points at: the summary file, the record folder, or the run's work_dir."""
        p = Path(path)
        if p.is_file():
            return cls(p.parent, summary=p)
        for folder in (p / RECORD_DIR, p):
            if (folder / SUMMARY_JSON).is_file():
                return cls(folder)
        raise FileNotFoundError(f'{path}: no {SUMMARY_JSON} there or in its {RECORD_DIR}/ folder '
                                f'(an IMP run writes it after each round)')

    # -- names ----------------------------------------------------------------
    def ticket_path(self, round_idx: int) -> str:
        return osp.join(self.folder, ticket_name(round_idx))

    @property
    def summary_path(self) -> Path:
        return self._summary or Path(self.folder) / SUMMARY_JSON

    # -- writing (rank 0 of the run) ------------------------------------------
    def save_ticket(self, ticket: Ticket, round_idx: int) -> str:
        """Write round ``round_idx``'s ticket (complete, atomically; a re-run round replaces it)."""
        path = self.ticket_path(round_idx)
        save_ticket(ticket, path, overwrite=True)
        return path

    def write_summary(self, settings: dict[str, Any], records: Sequence[dict[str, Any]]) -> Path:
        """Write (atomically) both summary files: ``settings`` and the ``records`` so far."""
        folder = Path(self.folder)
        summary = {**settings, 'records': list(records)}
        check_records(self.summary_path, summary)  # what is written can be read back
        path = atomic_write_bytes(self.summary_path,
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

    # -- reading --------------------------------------------------------------
    def read(self) -> 'FinishedRounds':
        """The rounds finished so far, as the summary records them."""
        path = self.summary_path
        try:
            summary = json.loads(path.read_text())
        except ValueError as e:
            raise ValueError(f'{path}: not an IMP summary ({e})') from None
        records = check_records(path, summary)
        settings = {k: v for k, v in summary.items() if k != 'records'}
        return FinishedRounds(self, path, settings, records)


@dataclass
class FinishedRounds:
    """An IMP run's summary as read: its settings and one record per finished round."""
    record: RunRecord
    path: Path
    settings: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def rounds(self) -> list[int]:
        return [r['round'] for r in self.records]

    @property
    def sparsities(self) -> list[float]:
        return [r['sparsity'] for r in self.records]

    def metric(self, name: str) -> list:
        """``name``'s value in every round (None where it was null)."""
        return [r.get('metrics', {}).get(name) for r in self.records]

    def ticket(self, round_idx: int) -> Path:
        """Round ``round_idx``'s ticket file, which must be finished."""
        if round_idx < 1 or round_idx not in self.rounds:
            raise KeyError(f'{self.path}: round {round_idx} has no ticket (finished rounds: {self.rounds}; '
                           f'round 0 is dense)')
        return Path(self.record.ticket_path(round_idx))

    @property
    def last_ticket(self) -> Path:
        return self.ticket(self.rounds[-1])
