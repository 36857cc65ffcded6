"""Helpers the tests share (fixtures live in conftest.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that must import this checkout's ``ltcv_mm`` (and the test
    helpers), not whichever copy is installed."""
    import os
    path = os.pathsep.join([str(ROOT), str(ROOT / 'tests')] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    return dict(os.environ, PYTHONPATH=path, **extra)


def run_tool(*args: str, check: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a script of tools/ the way a user does, in a fresh interpreter, on this checkout."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=checkout_env())
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc


def assert_ticket_zeros(checkpoint: Path, ticket: Path) -> float:
    """Assert that a saved checkpoint's backbone is zero wherever the ticket prunes; returns its sparsity."""
    import torch

    from ltcv_mm.core import load_ticket
    sd = torch.load(checkpoint, weights_only=True)['state_dict']
    t = load_ticket(ticket)
    zeros = sum(int((sd['backbone.' + n][~m] == 0).sum()) for n, m in t.masks.items())
    assert zeros == t.numel - t.kept, f'{checkpoint}: {t.numel - t.kept - zeros} pruned weights are not zero'
    return zeros / t.numel


def last_checkpoint(work: Path) -> Path:
    """The checkpoint mmengine's CheckpointHook names in work_dir/last_checkpoint."""
    return work / (work / 'last_checkpoint').read_text().strip()


def free_port() -> int:
    """A TCP port nobody listens on now (a fixed one can still be held by the previous run's sockets)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train(cfg: dict):
    """Build a stock Runner from a config dict, train it, and return it (as tools/train.py would)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ltcv_mm.compat.cpu_runs import cpu_runs
    with cpu_runs(cfg):
        runner = Runner.from_cfg(Config(cfg))
        runner.train()
    return runner


def train_ddp(cfg: dict, path: Path) -> subprocess.CompletedProcess:
    """Dump ``cfg`` to ``path`` and train it on 2 CPU processes under torch.distributed.run (gloo), through
    tests/run_config.py as tools/train.py would; asserts the launch succeeded."""
    from mmengine.config import Config
    Config(cfg).dump(str(path))
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                           '--master_port', str(free_port()), str(ROOT / 'tests/run_config.py'), str(path),
                           '--launcher', 'pytorch'], capture_output=True, text=True,
                          env=checkout_env(OMP_NUM_THREADS='1'), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc
