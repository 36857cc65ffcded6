"""Progress lines for a long sequence of runs: stage, count, elapsed time and an estimate of what is left."""
from __future__ import annotations

import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60:d}:{seconds % 60:02d}'


class Progress:
    """Runs are weighted by a rough cost; the time left is the measured seconds per cost
    unit of the runs done in this invocation times the cost still planned."""

    def __init__(self, plan: list[tuple[str, float]], parallel: int = 1) -> None:
        self.cost = dict(plan)
        self.total = len(plan)
        self.left = sum(self.cost.values())
        self.done = 0
        self.t0 = time.time()
        self.spent = 0.0     # seconds of runs executed now (not reused)
        self.units = 0.0     # their cost
        self.parallel = max(1, parallel)  # runs at once (an estimate: a stage of fewer runs uses fewer workers)

    def start(self, label: str) -> float:
        print(f'[{_clock(time.time() - self.t0)} {self._eta()}] {self.done + 1}/{self.total} {label} ...', flush=True)
        return time.time()

    def finish(self, key: str, started: float, reused: bool, summary: str = '') -> None:
        self.done += 1
        cost = self.cost.get(key, 1.0)
        self.left -= cost
        if not reused:
            self.spent += time.time() - started
            self.units += cost
        how = 'reused' if reused else f'{time.time() - started:.1f} s'
        print(f'    {how}{": " + summary if summary else ""}', flush=True)

    def _eta(self) -> str:
        if self.units == 0:
            return 'estimating'
        return f'~{_clock(self.spent / self.units * max(self.left, 0) / self.parallel)} left'
