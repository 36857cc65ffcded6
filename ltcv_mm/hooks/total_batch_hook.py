"""TotalBatchHook: a recipe's total batch, learning rate and samples on any number of GPUs.

A paper config states the authors' total batch once, as ``auto_scale_lr.base_batch_size``
(the batch its learning rate is for). ``tools/train.py`` and ``tools/dist_train.sh`` give each of
the N processes ``total / N`` images (``split_total_batch``), so the lr stays the config's
(mmengine's scale ratio is 1) and an epoch or an iteration sees the authors' samples. Under a
launcher that does not split (a stock ``tools/train.py`` of mmpretrain, mmdet, mmseg), the hook
refuses to train a total batch other than the recipe's, and names the command that runs it.
"""
from __future__ import annotations

import os

from mmengine.hooks import Hook
from torch import nn

from ..registry import HOOKS
from .runner_access import unwrap
from .sync_bn_fallback_hook import SYNC_BN_TYPES

HOOK_KEY = 'total_batch'  # the hook's name in default_hooks (a dict: it survives config inheritance)
DISABLE_HINT = f'--cfg-options default_hooks.{HOOK_KEY}.keep=False'


class LaunchError(ValueError):
    """A launch that would not run the config's recipe, refused before training."""


def launch_world_size(launcher: str) -> int:
    """How many processes the launcher starts, read from its environment before mmengine does."""
    if launcher in (None, 'none'):
        return 1
    keys = {'pytorch': ('WORLD_SIZE',), 'slurm': ('SLURM_NTASKS',),
            'mpi': ('OMPI_COMM_WORLD_SIZE', 'PMI_SIZE')}.get(launcher, ('WORLD_SIZE',))
    for key in keys:
        if os.environ.get(key):
            return int(os.environ[key])
    raise LaunchError(f'launcher {launcher!r}: none of {", ".join(keys)} is set, so the number of processes '
                      f'(and each one\'s share of the total batch) is unknown')


def total_batch_of(cfg, where: str) -> int | None:
    """The recipe's total batch when ``cfg`` keeps it (its TotalBatchHook is on), else None."""
    hook = (cfg.get('default_hooks') or {}).get(HOOK_KEY)
    if hook is None or not hook.get('keep', True):
        return None
    scale = cfg.get('auto_scale_lr') or {}
    total = scale.get('base_batch_size')
    if not isinstance(total, int) or total < 1:
        raise LaunchError(f'{where}: default_hooks.{HOOK_KEY} keeps the total batch of auto_scale_lr.base_batch_size, '
                          f'which is {total!r}; set it to the recipe\'s total batch (images per step over all GPUs)')
    return total


def per_gpu_batch(total: int, world_size: int, where: str) -> int:
    """Each process's share of ``total``; refused when it does not divide evenly."""
    if total % world_size:
        fits = [n for n in (1, 2, 4, 8, 16, 32, 64) if total % n == 0]
        raise LaunchError(f'{where}: the recipe\'s total batch of {total} images cannot be split evenly over '
                          f'{world_size} GPUs; launch it on {", ".join(map(str, fits))} GPU(s)')
    return total // world_size


def check_share(total: int, share: int, world_size: int, where: str) -> None:
    """Refuse ``world_size`` processes of ``share`` images when the recipe trains ``total`` a step."""
    if share * world_size == total:
        return
    fix = (f'train_dataloader.batch_size={total // world_size}' if total % world_size == 0
           else f'a GPU count that divides {total}')
    raise LaunchError(
        f'{where}: launched as {world_size} GPU(s) x {share} = {share * world_size} images a step; the recipe '
        f'trains {total} in total (auto_scale_lr.base_batch_size). Launch it with ltcv_mm\'s tools/train.py or '
        f'tools/dist_train.sh CONFIG N, which give each GPU total / N, or with {fix}; to train another total '
        f'batch on purpose: {DISABLE_HINT} (auto_scale_lr then scales the lr)')


def split_total_batch(cfg, world_size: int, where: str, given: int | None = None) -> int | None:
    """Set ``cfg``'s per-GPU batch to its share of the recipe's total batch and return it (None when the
    config does not keep a total). ``given``: a per-GPU batch the user asked for on the command line,
    refused unless it is that share (the user's word is never silently replaced)."""
    total = total_batch_of(cfg, where)
    if total is None:
        return None
    share = per_gpu_batch(total, world_size, where)
    if given is not None:
        check_share(total, given, world_size, where)
    cfg.train_dataloader.batch_size = share
    return share


def check_bn_batch(per_gpu: int, total: int, bn_layers: list[str], min_bn_batch: int, where: str) -> None:
    """Refuse BatchNorm statistics over fewer images than the recipe's, below ``min_bn_batch``.

    The authors' single-GPU recipes take BN statistics over the whole batch; N processes with plain BN
    take them over ``total / N`` images each. Above ``min_bn_batch`` that is the usual data-parallel
    practice (and what the authors' multi-GPU ImageNet runs did); below it, BN's estimates become
    noisy enough to change results, so the launch is refused and SyncBN named.
    """
    if not bn_layers or per_gpu >= min(total, min_bn_batch):
        return
    raise LaunchError(
        f'{where}: {len(bn_layers)} BatchNorm layers ({bn_layers[0]}, ...) would take their statistics over '
        f'{per_gpu} image(s) per GPU, where the recipe takes them over {min(total, min_bn_batch)} or more. '
        f'Add --cfg-options sync_bn=torch (statistics over all {total} images, on GPUs), or launch on '
        f'{max(1, total // min(total, min_bn_batch))} GPU(s) or fewer')


def batch_norm_layers(model: nn.Module) -> list[str]:
    """The BatchNorm layers that compute batch statistics now (train mode, not synchronised)."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and type(m).__name__ not in SYNC_BN_TYPES
            and m.training and m.track_running_stats]


@HOOKS.register_module()
class TotalBatchHook(Hook):
    """Train the recipe's total batch (``auto_scale_lr.base_batch_size``), or refuse before training.

    Put it in ``default_hooks`` under the key ``total_batch`` (a dict key, so configs that inherit the
    recipe keep it).

    Args:
        keep: False trains the config's per-GPU batch on however many GPUs are launched, as a stock
            config does (``auto_scale_lr`` then scales the lr linearly): for a user who trains
            another total batch on purpose.
        min_bn_batch: the fewest images per GPU over which plain BatchNorm may take its statistics
            when the recipe's own BN batch is larger (see ``check_bn_batch``).
    """

    priority = 'VERY_HIGH'

    def __init__(self, keep: bool = True, min_bn_batch: int = 16) -> None:
        if not isinstance(keep, bool):
            raise ValueError(f'TotalBatchHook: keep must be True or False, got {keep!r}')
        if not isinstance(min_bn_batch, int) or min_bn_batch < 1:
            raise ValueError(f'TotalBatchHook: min_bn_batch must be a positive int, got {min_bn_batch!r}')
        self.keep = keep
        self.min_bn_batch = min_bn_batch
        self._checked_bn = False

    def _where(self, runner) -> str:
        return getattr(runner.cfg, 'filename', None) or 'this config'

    def before_train(self, runner) -> None:
        """Refuse a launch whose GPUs x batch per GPU is not the recipe's total batch."""
        if not self.keep:
            return
        where = self._where(runner)
        total = total_batch_of(runner.cfg, where)
        if total is None:  # keep=False, or the hook was built outside default_hooks
            return
        share = runner.cfg.train_dataloader['batch_size']
        check_share(total, share, runner.world_size, where)
        runner.logger.info(f'TotalBatchHook: the recipe\'s total batch {total} = {runner.world_size} GPU(s) x {share}')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Once, at the first iteration: refuse plain BatchNorm over fewer images per GPU than the recipe's."""
        # BatchNorm is judged in train mode, as the loop set it (frozen stages and norm_eval are not counted)
        if self._checked_bn or not self.keep:
            return
        self._checked_bn = True
        where = self._where(runner)
        total = total_batch_of(runner.cfg, where)
        if total is None:
            return
        check_bn_batch(runner.cfg.train_dataloader['batch_size'], total, batch_norm_layers(unwrap(runner.model)),
                       self.min_bn_batch, where)
