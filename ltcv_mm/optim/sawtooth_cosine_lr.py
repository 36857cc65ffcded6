"""SawtoothCosineLR: the authors' detection schedule as their loop really steps it."""
from __future__ import annotations

import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from ..registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class SawtoothCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Linear warm-up from 0, then cosine to ``eta_min``, indexed by ``t = epoch_stride * N * epoch + i``.

    The authors' detection loop (Detection/train_transfer.py:208-212, train_imp.py) steps its
    ``CosineDecayLR`` (utils/cosine_lr_scheduler.py: warm-up over ``warmup_epochs * N`` steps, cosine
    over ``epochs * N``) at ``t = N / batch_size * epoch + i``, N the iterations of an epoch and i the
    iteration within it, where ``t = N * epoch + i`` was meant: each epoch starts the index only N / 8
    above the previous epoch's start (batch 8), so the warm-up repeats as a saw-tooth over about
    ``8 * warmup_epochs`` epochs and the cosine never gets far: about ``0.97 lr`` at epoch 120.
    ``epoch_stride = 1 / batch_size`` gives that; 1 gives the schedule as configured. Per iteration:
    build it with ``by_epoch=True, convert_to_iter_based=True`` (mmengine passes N).
    """

    def __init__(self, optimizer, epoch_length: int, epochs: int, warmup_epochs: float = 0,
                 epoch_stride: float = 1.0, eta_min: float = 0.0, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = False, verbose: bool = False) -> None:
        if by_epoch:
            raise ValueError('SawtoothCosineLR steps per iteration: set by_epoch=True with '
                             'convert_to_iter_based=True, so that mmengine gives it the epoch length')
        if not isinstance(epoch_length, int) or epoch_length < 1 or epochs <= warmup_epochs or epoch_stride <= 0:
            raise ValueError(f'SawtoothCosineLR: need epoch_length >= 1, epochs > warmup_epochs and '
                             f'epoch_stride > 0; got {epoch_length}, {epochs}, {warmup_epochs}, {epoch_stride}')
        self.epoch_length, self.epoch_stride, self.eta_min = epoch_length, epoch_stride, eta_min
        self.warmup, self.total = warmup_epochs * epoch_length, epochs * epoch_length
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=INF, by_epoch=True, epoch_length=None, **kwargs):
        """The per-iteration instance of an epoch-based config (``convert_to_iter_based=True``)."""
        if not by_epoch or not epoch_length:
            raise ValueError('SawtoothCosineLR.build_iter_from_epoch needs by_epoch=True and the epoch length')
        return cls(*args, epoch_length=epoch_length, begin=int(begin * epoch_length),
                   end=end if end == INF else int(end * epoch_length), by_epoch=False, **kwargs)

    def index(self, step: int) -> float:
        """The authors' ``t`` for the ``step``-th iteration since ``begin``."""
        epoch, i = divmod(step, self.epoch_length)
        return self.epoch_stride * self.epoch_length * epoch + i

    def _get_value(self) -> list[float]:
        t = self.index(self.last_step)
        out = []
        for base in self.base_values:
            if self.warmup and t < self.warmup:
                out.append(base / self.warmup * t)
            else:
                phase = (t - self.warmup) / (self.total - self.warmup)
                out.append(self.eta_min + 0.5 * (base - self.eta_min) * (1 + math.cos(phase * math.pi)))
        return out
