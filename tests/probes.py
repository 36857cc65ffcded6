"""Hooks the tests put into real runs to observe them (registered in mmengine's HOOKS)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.registry import HOOKS, METRICS

from ltcv_mm.hooks import MaskApplyHook
from ltcv_mm.hooks.runner_access import find_hook, masked_modules, unwrap


@HOOKS.register_module(force=True)
class RoundProbe(Hook):
    """Records, at every epoch (or iteration) start, what IMP must have set up.

    Runs after IMPHook (priority LOW), so at a round start it sees the
    rewound, re-masked model and the restarted optimizer.
    """

    priority = 'LOW'

    def __init__(self, by_epoch: bool = True) -> None:
        self.by_epoch = by_epoch
        self.starts: list[dict] = []
        self.nonzero_pruned_after_step: list[int] = []

    def before_train(self, runner) -> None:
        self.initial = {k: v.detach().clone() for k, v in unwrap(runner.model).state_dict().items()}

    def _snap(self, runner) -> None:
        opt = runner.optim_wrapper.optimizer
        masker = find_hook(runner, MaskApplyHook)
        self.starts.append({
            'progress': runner.epoch if self.by_epoch else runner.iter,
            'lr': opt.param_groups[0]['lr'],
            'optimizer_state_size': len(opt.state),
            'ticket': None if masker.ticket is None else masker.ticket,
            'state': {k: v.detach().clone() for k, v in unwrap(runner.model).state_dict().items()},
        })

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._snap(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not self.by_epoch:
            self._snap(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.nonzero_pruned_after_step.append(find_hook(runner, MaskApplyHook).count_nonzero_pruned(runner))


@HOOKS.register_module(force=True)
class KillAtIterHook(Hook):
    """SIGKILLs its own process after a given number of iterations: a real crash, no cleanup."""

    priority = 'LOWEST'

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module(force=True)
class MaskDigestHook(Hook):
    """Writes a digest of this rank's current ticket at every epoch start (after IMPHook)."""

    priority = 'LOW'

    def before_train_epoch(self, runner) -> None:
        self._write(runner)

    def after_train(self, runner) -> None:
        self._write(runner)

    def _write(self, runner) -> None:
        ticket = find_hook(runner, MaskApplyHook).ticket
        digest = None
        if ticket is not None:  # of the masks alone
            digest = hashlib.sha256(b''.join(m.numpy().tobytes() for m in ticket.masks.values())).hexdigest()
        path = Path(runner.work_dir) / f'mask_digests_rank{get_rank()}.json'
        seen = json.loads(path.read_text()) if path.exists() else []
        seen.append([runner.epoch, digest])
        path.write_text(json.dumps(seen))
        # every rank also asserts its live weights obey the ticket
        assert find_hook(runner, MaskApplyHook).count_nonzero_pruned(runner) == 0


@HOOKS.register_module(force=True)
class ZeroProbe(Hook):
    """After every iteration: pruned weights that are not zero in any masked module, and the loss scale."""

    priority = 'LOWEST'  # after EMAHook has averaged

    def __init__(self, record: bool = False) -> None:
        self.record = record  # also write what was seen to work_dir/zero_probe_rank{r}.json
        self.nonzero: list[int] = []
        self.copies: list[int] = []
        self.scales: list[float] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        held = masked_modules(runner)
        self.copies.append(len(held))
        self.nonzero.append(sum(masks.count_nonzero_pruned(m) for m, masks in held))
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is not None:
            self.scales.append(float(scaler.get_scale()))

    def after_train(self, runner) -> None:
        if self.record:
            path = Path(runner.work_dir) / f'zero_probe_rank{get_rank()}.json'
            path.write_text(json.dumps({'nonzero': self.nonzero, 'copies': self.copies, 'scales': self.scales}))


@METRICS.register_module(force=True)
class NaNMetric(BaseMetric):
    """A validation metric that comes out NaN, as a diverged round's or an empty class's mIoU does."""

    def process(self, data_batch, data_samples) -> None:
        self.results.append(len(data_samples))

    def compute_metrics(self, results: list) -> dict:
        return {'score': float('nan')}


@HOOKS.register_module(force=True)
class RankNoiseHook(Hook):
    """Makes rank 1's backbone weights differ from rank 0's just before each pruning (IMPHook prunes in
    its before_train_epoch, after this hook): only rank 0's decision, broadcast, gives equal masks."""

    priority = 'HIGH'

    def __init__(self, remask: bool = False) -> None:
        self.remask = remask  # keep the current ticket's pruned weights at zero (noise between prunings)

    def before_train_epoch(self, runner) -> None:
        import torch
        if runner.epoch == 0 or get_rank() != 1:
            return
        gen = torch.Generator().manual_seed(runner.epoch)
        with torch.no_grad():
            for p in unwrap(runner.model).backbone.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * p.abs().mean())
        if self.remask:
            find_hook(runner, MaskApplyHook).apply(runner, with_optimizer=False)


@HOOKS.register_module(force=True)
class StateProbe(Hook):
    """The model's state before any other hook's before_train, after every validation and, with
    ``every_iter``, after every iteration (after the other hooks: the masked weights)."""

    priority = 'VERY_HIGH'

    def __init__(self, every_iter: bool = False) -> None:
        self.before: dict | None = None
        self.validated: list[tuple[int, dict, dict]] = []  # (epochs done, metrics, state)
        self.every_iter = every_iter
        self.iters: dict[int, dict] = {}  # iterations done -> state

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.every_iter:  # runs first of all hooks: the MaskApplyHook work of this step is not done yet
            self.iters[runner.iter + 1] = {k: v.detach().clone() for k, v in unwrap(runner.model).state_dict().items()}

    def before_train(self, runner) -> None:
        self.before = {k: v.detach().clone() for k, v in unwrap(runner.model).state_dict().items()}

    def after_val_epoch(self, runner, metrics=None) -> None:
        state = {k: v.detach().clone() for k, v in unwrap(runner.model).state_dict().items()}
        self.validated.append((runner.epoch, dict(metrics or {}), state))
