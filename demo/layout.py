"""Where everything of a demo run lives, in one place, and the fine-tunings it runs.

A demo work folder holds::

    settings.json  timings.json  probe.json  ticket_probe.json
    data/          the generated data sets (or --data elsewhere), data/done.json when complete
    pretrain/P/    the dense pre-training of P, pretrained/resnet50_P.pth its backbone
    imp/P/         IMP on P's task; its tickets and summary in imp/P/tickets/ (ltcv_mm.core.imp_record)
    transfer/TASK/scratch/seedS, transfer/TASK/P/dense/seedS, transfer/TASK/P/MODE_roundKK/seedS
    instability/MODE/path.json
    report/        report.md, results.csv, the figures
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ltcv_mm.core.imp_record import RunRecord

from .settings import DemoSettings

MASKED_MODES = ('ticket', 'random', 'reverse')  # the fine-tunings under a mask derived from a ticket


@dataclass(frozen=True)
class TransferJob:
    """One fine-tuning: ``task`` from the backbone of ``pretraining`` (None: from scratch) in ``mode``
    (``scratch``, ``dense``, or a mask of ``round``'s ticket: ``ticket``, ``random``, ``reverse``)."""
    task: str
    pretraining: str | None
    mode: str
    round: int
    seed: int

    @property
    def key(self) -> str:
        """The job's name in the progress log and the time plan."""
        return f'{self.task}/{self.pretraining or "-"}/{self.mode}{self.round or ""}/seed{self.seed}'

    @property
    def masked(self) -> bool:
        return self.mode in MASKED_MODES


def transfer_jobs(s: DemoSettings) -> list[TransferJob]:
    """Every fine-tuning, in the order they run: per task the scratch floor, then per pre-training the
    dense backbone, the ticket and its random mask at every transferred round, and (``reverse_ticket``)
    the reverse ticket at the lowest one; every seed."""
    jobs = []
    for task in s.tasks:
        cells = [(None, 'scratch', 0)]
        for p in s.pretrainings:
            cells.append((p, 'dense', 0))
            cells += [(p, m, k) for k in s.transferred_rounds() for m in ('ticket', 'random')]
            if s.reverse_ticket:
                cells.append((p, 'reverse', min(s.transferred_rounds())))
        jobs += [TransferJob(task, p, m, k, seed) for p, m, k in cells for seed in s.seed_list()]
    return jobs


@dataclass(frozen=True)
class DemoLayout:
    """Every path of a demo run in ``work`` (data in ``data``: ``work/data`` unless given)."""
    work: Path
    data: Path

    @classmethod
    def of(cls, work: str | Path, data: str | Path | None = None) -> 'DemoLayout':
        work = Path(work)
        return cls(work, Path(data) if data else work / 'data')

    @property
    def owns_data(self) -> bool:
        return self.data == self.work / 'data'

    @property
    def settings(self) -> Path:
        return self.work / 'settings.json'

    @property
    def timings(self) -> Path:
        return self.work / 'timings.json'

    @property
    def probe(self) -> Path:
        return self.work / 'probe.json'

    @property
    def ticket_probe(self) -> Path:
        return self.work / 'ticket_probe.json'

    @property
    def data_done(self) -> Path:
        return self.data / 'done.json'

    @property
    def report(self) -> Path:
        return self.work / 'report'

    def pretrain_work(self, p: str) -> Path:
        return self.work / 'pretrain' / p

    def pretrained(self, p: str) -> Path:
        return self.work / 'pretrained' / f'resnet50_{p}.pth'

    def imp_work(self, p: str) -> Path:
        return self.work / 'imp' / p

    def imp_record(self, p: str) -> RunRecord:
        return RunRecord.of_work_dir(self.imp_work(p))

    def ticket(self, p: str, k: int) -> Path:
        """The ticket of round ``k`` of IMP on ``p``'s task."""
        return Path(self.imp_record(p).ticket_path(k))

    def transfer_dir(self, job: TransferJob) -> Path:
        if job.mode == 'scratch':
            cell = 'scratch'
        elif job.mode == 'dense':
            cell = f'{job.pretraining}/dense'
        else:
            cell = f'{job.pretraining}/{job.mode}_round{job.round:02d}'
        return self.work / 'transfer' / job.task / cell / f'seed{job.seed}'

    def instability_path(self, mode: str) -> Path:
        return self.work / 'instability' / mode / 'path.json'

    def remove_run(self) -> None:
        """Remove a previous demo run (only what the demo writes; data given with --data stays)."""
        folders = [self.work / sub for sub in ('pretrain', 'pretrained', 'imp', 'transfer', 'instability')]
        folders += [self.report] + ([self.data] if self.owns_data else [])
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        for f in (self.settings, self.timings, self.probe, self.ticket_probe):
            f.unlink(missing_ok=True)
