"""IMPHook: one iterative-magnitude-pruning run (``ltcv_mm.core.imp_run``) driven by a stock mmengine loop."""
from __future__ import annotations

import os.path as osp
from typing import Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ..core.imp_record import RECORD_DIR, RunRecord
from ..core.imp_run import CHECKPOINT_KEY, IMPRun
from ..core.imp_settings import IMPConfigError, IMPSettings
from ..registry import HOOKS
from .imp_checks import check_one_ticket_hook, check_prunable, check_setup, left_dense
from .mask_apply_hook import MaskApplyHook
from .runner_access import by_epoch, from_rank0, progress, set_run_length, unwrap
from .runner_rounds import recent_train_loss, restart_training, training_state, validate_now
from .ticket_enforcement import HoldsTicket, TicketEnforcement

__all__ = ['IMPConfigError', 'IMPHook']

ROUND_INFO_KEY = 'ltcv_imp_round'


@HOOKS.register_module()
class IMPHook(HoldsTicket, Hook):
    """Iterative magnitude pruning, one round every ``interval`` epochs (or iterations).

    A thin adapter from the Runner's events to the run's owner
    (``ltcv_mm.core.imp_run.IMPRun``: rounds, records, rewind point, the
    pruning drawn on rank 0 for every rank) and to the ticket's enforcement,
    which it holds as MaskApplyHook does. At each round's end the hook
    restarts the optimizer state, every parameter scheduler and the EMA
    averages, so a stock config's schedule (one round by default) replays in
    every round; it extends the run to the plan's length. Tickets and the
    summary go to ``work_dir/tickets`` (``ltcv_mm.core.imp_record``);
    everything the run needs to resume is saved in every checkpoint.

    Args:
        ticket, prefixes, mask_after_step: as MaskApplyHook (``ticket``: the
            starting ticket of round 0).
        **settings: the run's settings (interval, rounds, target_sparsity,
            rate, strategy, rewind, rewind_at, ...), each documented in
            ``ltcv_mm.core.imp_settings.IMPSettings``.
    """

    priority = 'ABOVE_NORMAL'  # as MaskApplyHook: before EMAHook, so averages see masked weights only

    def __init__(self, ticket: str | None = None, prefixes: Sequence[str] | None = None,
                 mask_after_step: bool | str = 'auto', **settings) -> None:
        self.settings = IMPSettings.check('IMPHook', **settings)
        self.masking = TicketEnforcement(ticket, prefixes, None, mask_after_step, who='IMPHook')
        self.run = IMPRun(self.settings, who='IMPHook')
        self._testing = False  # inside test_at_best's test loop

    @property
    def rewind(self):
        """The run's rewind point (its ``mode`` is the ``rewind`` setting)."""
        return self.run.rewind

    def __getattr__(self, name: str):  # the other settings read as before: hook.strategy, hook.include, ...
        if name != 'settings' and name in IMPSettings.__dataclass_fields__:
            return getattr(self.settings, name)
        raise AttributeError(f'{type(self).__name__!r} object has no attribute {name!r}')

    def _weights(self, runner) -> dict:
        return self.settings.prunable(dict(unwrap(runner.model).named_parameters()))

    def before_run(self, runner) -> None:
        """Refuse a second ticket hook; leave dense the layers that include / exclude keep out of tickets
        (also under the ticket a resumed checkpoint brings, checked when it loads)."""
        check_one_ticket_hook(runner, self, MaskApplyHook)
        self.masking.dense = left_dense(runner, self.settings.prunable, self.settings.prefix)

    def before_train(self, runner) -> None:
        """Plan the run, check the set-up, enforce the ticket; with ``prune_first``, prune before training."""
        s, run, epochs, loop = self.settings, self.run, by_epoch(runner), runner.train_loop
        weights = self._weights(runner)
        check_prunable(weights, s, self.ticket)
        plan = run.start(loop.max_epochs if epochs else loop.max_iters, sum(w.numel() for w in weights.values()),
                         epochs, len(runner.train_dataloader))
        check_setup(runner, s, plan.interval, run.unit)
        set_run_length(runner, run.length)
        run.record, run.writes = RunRecord(s.save_dir or osp.join(runner.work_dir, RECORD_DIR)), is_main_process()
        run.restart = run.restart or training_state(runner)  # a resumed run restored its own
        self.masking.start_training(runner)  # the ticket now holds in the model and its copies
        run.trained(progress(runner, run.rewind_clock(epochs)), unwrap(runner.model))
        runner.message_hub.update_info(ROUND_INFO_KEY, run.round)
        if s.prune_first and run.round == 0 and not run.records:  # state 0: judge, prune, no training
            self._end_round(runner, 0)
        runner.logger.info(f'IMP: {run.describe(weights)}; tickets in {run.record.folder}')

    # The loops count an iteration or epoch as done only after its after_* hooks: hence + 1.
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        """Masks first (so a rewind point is masked), then take the rewind point if due."""
        self.masking.after_step(runner)
        if not self.run.rewind_clock(by_epoch(runner)):
            self.run.trained(runner.iter + 1, unwrap(runner.model))

    def after_train_epoch(self, runner) -> None:
        """Take the rewind point if due (counted in epochs)."""
        if self.run.rewind_clock(by_epoch(runner)):
            self.run.trained(runner.epoch + 1, unwrap(runner.model))

    def before_val_epoch(self, runner) -> None:
        """Pruned weights are zero in what is validated."""
        self.masking.before_eval(runner)

    def before_test_epoch(self, runner) -> None:
        """Pruned weights are zero in what is tested."""
        self.masking.before_eval(runner)

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        """Track the round's best validation (round_best's rewind point); test there with ``test_at_best``."""
        if metrics is None or not self.run.started or self._testing:  # only inside a training run
            return
        best = self.run.validated(progress(runner, self.run.by_epoch), metrics, unwrap(runner.model))
        if best and self.settings.test_at_best:
            self._testing = True  # the test loop's own hooks must not count as a validation
            try:
                test = runner.test_loop.run()
            finally:
                self._testing = False
            runner.model.train()
            self.run.tested_at_best(test)

    def before_train_epoch(self, runner) -> None:
        """End the round here if it is over (epoch-based loops)."""
        if self.run.by_epoch:
            self._maybe_end_round(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        """End the round here if it is over (iteration-based loops)."""
        if not self.run.by_epoch:
            self._maybe_end_round(runner)

    def after_train(self, runner) -> None:
        """Record the last round, trained to the end of the run."""
        done = progress(runner, self.run.by_epoch)
        if self.run.finished(done):
            self._finish_round(runner, done)
        runner.logger.info(f'IMP: finished, summary in {self.run.record.summary_path}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """The checkpoint carries the ticket (``ltcv_ticket``) and the run's state (``ltcv_imp``)."""
        self.masking.save(checkpoint)
        checkpoint[CHECKPOINT_KEY] = self.run.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume, continue the run (its ticket and state) where the checkpoint left it."""
        self.masking.load(runner, checkpoint)
        if runner._resume and checkpoint.get(CHECKPOINT_KEY) is not None:
            self.run.load_state_dict(checkpoint[CHECKPOINT_KEY])

    def _maybe_end_round(self, runner) -> None:
        run, done = self.run, progress(runner, self.run.by_epoch)
        if run.may_end_round(done) and (run.round_is_over(done) or self._early_bird_says_stop(runner, done)):
            if not run.rewind.captured and self.settings.rewind_at_round_end:  # round 0 ended early: its end is now
                run.rewind.capture(unwrap(runner.model))
            self._end_round(runner, done)

    def _early_bird_says_stop(self, runner, done: int) -> bool:
        run = self.run
        stop = run.early_bird_says_stop(done, self._weights(runner), self.ticket, from_rank0)
        if stop:
            distances = run.checks[-1]['distances']
            runner.logger.info(f'IMP: early bird: round {run.round} ends after {run.into_round(done)} of '
                               f'{run.plan.interval} {run.unit}: its last {len(distances) + 1} masks differ by at '
                               f'most {max(distances):.4f} (eps {self.settings.early_bird["eps"]})')
        return stop

    def _finish_round(self, runner, done: int) -> None:
        metrics = self.run.metrics_at(done)  # the model is still the one this round trained
        metrics = metrics if metrics is not None or runner.val_loop is None else validate_now(runner)
        r = self.run.finish_round(done, metrics or {}, self.ticket, recent_train_loss(runner), runner.iter)
        if r['metric_name'] is not None and r['metric'] is None:
            runner.logger.warning(f'IMP: round {r["round"]}: validation metric {r["metric_name"]} = '
                                  f'{metrics[r["metric_name"]]} is not a finite number; recorded as missing '
                                  f'(null), the run goes on')
        runner.logger.info(f'IMP: round {r["round"]} done: sparsity {r["sparsity"]:.4%}, '
                           f'{r["metric_name"] or "no metric"} = {r["metric"]}')
        scalars = {'imp/sparsity': r['sparsity'], 'imp/round': float(r['round'])}
        runner.visualizer.add_scalars({**scalars, **({} if r['metric'] is None else {'imp/metric': r['metric']})},
                                      step=runner.iter)

    def _end_round(self, runner, done: int) -> None:
        """Record the round, prune, rewind, restart the optimizer, schedulers and averages, enforce the ticket."""
        self._finish_round(runner, done)
        ticket = self.run.prune(unwrap(runner.model), self._weights(runner), self.ticket, done, from_rank0)
        restart_training(runner, self.run.restart, optimizer=self.settings.restart_optimizer)
        self.masking.set(runner, ticket)  # zeroes the pruned weights and their (restarted) optimizer state
        set_run_length(runner, self.run.length)  # shorter when the round ended early
        runner.message_hub.update_info(ROUND_INFO_KEY, self.run.round)
        if ticket.empty_layers:
            runner.logger.warning(f'IMP: {len(ticket.empty_layers)} layers are pruned completely (first '
                                  f'{ticket.empty_layers[0]!r}): no signal passes through them')
        runner.logger.info(f'IMP: pruned to sparsity {ticket.sparsity:.4%} (round {self.run.round} of '
                           f'{self.run.plan.rounds}), rewound ({self.settings.rewind}), '
                           + ('optimizer and schedulers restarted' if self.settings.restart_optimizer
                              else 'schedulers restarted, optimizer state kept'))


MaskApplyHook.register(IMPHook)  # holds the same TicketEnforcement: found wherever a ticket hook is looked up
