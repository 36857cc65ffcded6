"""Checks of a Runner's set-up for an IMP run, made before training: what the run needs from the loops."""
from __future__ import annotations

from typing import Callable

from ..core import select_model_prunable, select_prunable
from ..core.imp_settings import IMPConfigError, IMPSettings
from ..core.names import matches_any
from ..core.strategies import not_groupable_by_4
from .runner_access import schedulers, unwrap


def check_one_ticket_hook(runner, hook, ticket_hook: type) -> None:
    """A pruning hook (IMPHook, GMPHook) enforces its run's ticket itself: no other hook may hold one."""
    who = type(hook).__name__
    others = [type(h).__name__ for h in runner.hooks if isinstance(h, ticket_hook) and h is not hook]
    if others:
        raise IMPConfigError(
            f'{who} enforces the ticket of its run itself: remove {" and ".join(others)} from '
            f"custom_hooks (a ticket to start from goes to {who}: dict(type='ltcv.{who}', "
            f"ticket=...)); see the README, 'IMP configs'")


def left_dense(runner, chosen: Callable[[dict], dict], prefix: str | None) -> list[str] | None:
    """The backbone's prunable layers that a run's include / exclude keep out of every ticket: those not
    among ``chosen(named_parameters)``."""
    params = dict(unwrap(runner.model).named_parameters())
    return sorted(set(select_prunable(params, prefix=prefix)) - set(chosen(params))) or None


def check_setup(runner, s: IMPSettings, interval: int, unit: str) -> None:
    """Everything the run needs from the loops, checked once its plan is fixed."""
    check_loops(runner, s)
    warn_schedulers(runner, interval, unit)
    check_metric_name(runner, s.metric)
    warn_nothing_kept_dense(runner, s)


def warn_nothing_kept_dense(runner, s: IMPSettings) -> None:
    """With ``scope='model'``: ``keep_dense`` patterns that match no layer leave the final layers
    prunable, and a model with nothing prunable outside the backbone makes the scope mean nothing."""
    if s.scope != 'model':
        return
    params = dict(unwrap(runner.model).named_parameters())
    layers = [n for n, p in params.items() if n.endswith('.weight') and p.dim() >= 2]
    if not any(matches_any(n, s.keep_dense) for n in params):
        runner.logger.warning(f'IMP: keep_dense {list(s.keep_dense)} matches no parameter of the model, so '
                              f'its final classifier and box / mask layers are pruned too; name them (e.g. '
                              f'keep_dense=[{layers[-1].rpartition(".")[0] + ".*"!r}])')
    elif not select_model_prunable(params, s.keep_dense):
        kept = [n for n in layers if matches_any(n, s.keep_dense)]
        runner.logger.warning(f"IMP: scope='model' prunes nothing outside the backbone: its only conv or linear "
                              f'layers there are kept dense by keep_dense ({", ".join(kept)}); the tickets '
                              f"are the backbone's, as with scope='backbone'")


def check_loops(runner, s: IMPSettings) -> None:
    """The validation and test loops the settings need are there."""
    if s.needs_validation and runner.val_loop is None:
        raise IMPConfigError("IMPHook: rewind_at='round_best' needs a validation loop (val_dataloader, "
                             "val_cfg, val_evaluator) to find round 0's best weights")
    if s.test_at_best and runner.test_loop is None:
        raise IMPConfigError('IMPHook: test_at_best needs a test loop (test_dataloader, test_cfg, '
                             'test_evaluator)')


def warn_schedulers(runner, interval: int, unit: str) -> None:
    """Parameter schedulers restart every round, so they should describe one round: warn when not."""
    for sched in schedulers(runner):
        if sched.end < interval or sched.begin >= interval:
            runner.logger.warning(
                f'IMP: {type(sched).__name__} spans [{sched.begin}, {sched.end}) {unit} but restarts '
                f'every round of {interval} {unit}: it will stop or never start within a '
                f'round. Schedulers should describe one round.')


def check_metric_name(runner, metric: str | None, who: str = 'IMPHook') -> None:
    """Refuse before training a ``metric`` that none of the evaluator's metrics can report.

    Evaluators name their results only when they run; but every result
    key of a metric with a prefix starts with ``prefix/``, so a name
    under none of the prefixes can never appear.
    """
    loop = runner.val_loop if metric is not None else None
    metrics = getattr(getattr(loop, 'evaluator', None), 'metrics', None) or []
    prefixes = [getattr(m, 'prefix', None) for m in metrics]
    if prefixes and all(prefixes) and metric.split('/')[0] not in prefixes:
        raise IMPConfigError(
            f'{who}: metric {metric!r} cannot come from the validation evaluator, whose metrics '
            f'report {", ".join(repr(p + "/...") for p in prefixes)} only: name one of those keys '
            f'(as the log prints them after a validation, e.g. {prefixes[0] + "/top1"!r})')


def check_prunable(weights: dict, s: IMPSettings, ticket) -> None:
    """The settings select some weights, and cover every layer of the starting ticket."""
    if not weights:
        raise IMPConfigError(
            f'IMPHook: no prunable parameter matched include={list(s.include)} '
            f'exclude={list(s.exclude)} prefix={s.prefix!r}: the model has no ResNet conv '
            f'weight under those patterns')
    if s.strategy == 'semi_structured_2_4':  # found at the first pruning otherwise, after round 0 trained
        bad = not_groupable_by_4({n: tuple(w.shape) for n, w in weights.items()})
        if bad:
            raise IMPConfigError(f'IMPHook: semi_structured_2_4 groups input channels by 4, but {len(bad)} '
                                 f'prunable layers cannot be split so (first {bad[0]!r}, '
                                 f'{tuple(weights[bad[0]].shape)}); leave them out with exclude=[...]')
    for name in (ticket.masks if ticket is not None else ()):
        if name not in weights:
            raise IMPConfigError(f'IMPHook: the starting ticket covers {name!r}, which is not '
                                 f'among the prunable parameters')
