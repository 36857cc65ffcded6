"""GMPHook: gradual magnitude pruning (``ltcv_mm.core.gmp_run``) in one run of a stock mmengine loop."""
from __future__ import annotations

import os.path as osp
from typing import Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ..core import select_prunable
from ..core.gmp_run import CHECKPOINT_KEY, CubicSchedule, GMPRun
from ..core.imp_record import RECORD_DIR, RunRecord
from ..core.imp_settings import IMPConfigError
from ..core.names import DEFAULT_EXCLUDE, pattern_list
from ..registry import HOOKS
from .imp_checks import check_metric_name, check_one_ticket_hook, left_dense
from .mask_apply_hook import MaskApplyHook
from .runner_access import by_epoch, from_rank0, progress, unwrap
from .ticket_enforcement import HoldsTicket, TicketEnforcement


@HOOKS.register_module()
class GMPHook(HoldsTicket, Hook):
    """Gradual magnitude pruning (Zhu & Gupta, 2017) in one training run, beside IMP.

    Dense until ``start``, then a pruning step every ``interval`` raising the
    sparsity on the cubic schedule from ``initial_sparsity`` to
    ``final_sparsity`` in ``steps`` steps, then training at the final sparsity
    to the end of the run. Progress counts what the train loop counts:
    epochs in an epoch-based loop (a step before the epoch), iterations in an
    iteration-based one (a step before the iteration). Each step prunes the
    trained weights with an IMP strategy (exact-k; no rewind), drawn on rank 0
    for every rank; between steps the ticket is enforced as MaskApplyHook
    enforces one. A ticket file is written at each sparsity of ``save_at``
    (default: the final one) in ``work_dir/tickets`` (or ``save_dir``) with
    ``imp_summary.json``, as IMP writes them; the final ticket gets the run's
    last validation. Every checkpoint carries the ticket and the run's state,
    so ``resume`` continues the schedule.

    Args:
        final_sparsity, start, interval, steps, initial_sparsity: the schedule.
        strategy: an IMP strategy (default ``global_magnitude``).
        save_at: sparsities to write tickets at (each in (0, final_sparsity]).
        include, exclude, prefix: which backbone weights are pruned, as IMPHook's.
        metric: the validation metric recorded for the final ticket (default: the first).
        seed: the random strategies' draws.
        source: the pre-training the run starts from (ticket provenance).
        save_dir: where the tickets go (default ``work_dir/tickets``).
        ticket, prefixes, mask_after_step: as MaskApplyHook (``ticket``: a mask to start from).
    """

    priority = 'ABOVE_NORMAL'  # as MaskApplyHook: before EMAHook, so averages see masked weights only

    def __init__(self, final_sparsity: float, steps: int, interval: int = 1, start: int = 0,
                 initial_sparsity: float = 0.0, strategy: str = 'global_magnitude',
                 save_at: Sequence[float] | None = None, include: Sequence[str] = ('*',),
                 exclude: Sequence[str] = DEFAULT_EXCLUDE, prefix: str | None = None, metric: str | None = None,
                 seed: int = 0, source: str | None = None, save_dir: str | None = None, ticket: str | None = None,
                 prefixes: Sequence[str] | None = None, mask_after_step: bool | str = 'auto') -> None:
        try:
            schedule = CubicSchedule(final=final_sparsity, start=start, interval=interval, steps=steps,
                                     initial=initial_sparsity)
            self.run = GMPRun(schedule, strategy, save_at, seed=seed, source=source, who='GMPHook')
        except (ValueError, TypeError, KeyError) as e:
            raise IMPConfigError(f'GMPHook: {e}') from None
        self.include, self.exclude = pattern_list(include, 'include'), pattern_list(exclude, 'exclude')
        self.prefix, self.metric, self.save_dir = prefix, metric, save_dir
        self.masking = TicketEnforcement(ticket, prefixes, None, mask_after_step, who='GMPHook')
        self._last_val: dict | None = None

    @property
    def schedule(self) -> CubicSchedule:
        return self.run.schedule

    def _chosen(self, params: dict) -> dict:
        return select_prunable(params, self.include, self.exclude, self.prefix)

    def _weights(self, runner) -> dict:
        return self._chosen(dict(unwrap(runner.model).named_parameters()))

    def before_run(self, runner) -> None:
        """Refuse a second ticket hook; leave dense the layers include / exclude keep out of the tickets."""
        check_one_ticket_hook(runner, self, MaskApplyHook)
        self.masking.dense = left_dense(runner, self._chosen, self.prefix)
        check_metric_name(runner, self.metric, who='GMPHook')

    def before_train(self, runner) -> None:
        """Check the schedule fits the run, enforce the ticket, prune what is due at the start."""
        weights, epochs, loop = self._weights(runner), by_epoch(runner), runner.train_loop
        if not weights:
            raise IMPConfigError(f'GMPHook: no prunable weight in the model (include={list(self.include)}, '
                                 f'exclude={list(self.exclude)})')
        unit, length = ('epochs', loop.max_epochs) if epochs else ('iterations', loop.max_iters)
        if self.schedule.end >= length:
            raise IMPConfigError(f'GMPHook: the last pruning step is at {self.schedule.end} {unit} (start + steps * '
                                 f'interval), but the run trains {length} {unit}: nothing would train at '
                                 f'final_sparsity; shorten the schedule or lengthen train_cfg')
        self.run.unit = unit
        self.run.record = RunRecord(self.save_dir or osp.join(runner.work_dir, RECORD_DIR))
        self.run.writes = is_main_process()
        self.masking.start_training(runner)
        runner.logger.info(f'GMP: sparsity {self.schedule.initial:.2%} -> {self.schedule.final:.2%} in '
                           f'{self.schedule.steps} steps every {self.schedule.interval} {unit} from '
                           f'{self.schedule.start}, {len(weights)} prunable layers; tickets at '
                           f'{[f"{s:.2%}" for s in self.run.save_at]} in {self.run.record.folder}')

    def before_train_epoch(self, runner) -> None:
        """Take the pruning step due before this epoch (epoch-based loops)."""
        if by_epoch(runner):
            self._maybe_prune(runner, progress(runner, True))

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        """Take the pruning step due before this iteration (iteration-based loops)."""
        if not by_epoch(runner):
            self._maybe_prune(runner, progress(runner, False))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        """Re-mask the weights after the step, for optimizers that could move a pruned weight."""
        self.masking.after_step(runner)

    def before_val_epoch(self, runner) -> None:
        """Pruned weights are zero in what is validated."""
        self.masking.before_eval(runner)

    def before_test_epoch(self, runner) -> None:
        """Pruned weights are zero in what is tested."""
        self.masking.before_eval(runner)

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        """Keep the last validation, for the final ticket's record."""
        if metrics:
            self._last_val = dict(metrics)

    def after_train(self, runner) -> None:
        """The final ticket, trained at final_sparsity to the end, gets the run's last validation."""
        self.run.finished(self._last_val, self.metric)
        runner.logger.info(f'GMP: finished at sparsity {self.ticket.sparsity:.4%}, summary in '
                           f'{self.run.record.summary_path}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """The checkpoint carries the ticket (``ltcv_ticket``) and the run's state (``ltcv_gmp``)."""
        self.masking.save(checkpoint)
        checkpoint[CHECKPOINT_KEY] = self.run.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume, continue the schedule (its ticket and state) where the checkpoint left it."""
        self.masking.load(runner, checkpoint)
        if runner._resume and checkpoint.get(CHECKPOINT_KEY) is not None:
            try:
                self.run.load_state_dict(checkpoint[CHECKPOINT_KEY])
            except ValueError as e:
                raise IMPConfigError(str(e)) from None

    def _maybe_prune(self, runner, done: int) -> None:
        if not self.run.due(done):
            return
        saved = len(self.run.records)
        ticket = self.run.prune(self._weights(runner), self.ticket, done, from_rank0)
        self.masking.set(runner, ticket)  # zeroes the pruned weights and their optimizer state
        for r in self.run.records[saved:]:
            runner.logger.info(f'GMP: ticket at {r["sparsity"]:.4%} written: {r["ticket"]}')
        runner.logger.info(f'GMP: step {self.run.step - 1} of {self.schedule.steps} at {done} {self.run.unit}: '
                           f'sparsity {ticket.sparsity:.4%}')
        runner.visualizer.add_scalars({'gmp/sparsity': ticket.sparsity}, step=runner.iter)


MaskApplyHook.register(GMPHook)  # holds a TicketEnforcement: found wherever a ticket hook is looked up
