"""An IMP run's settings, checked once into a frozen value, and its plan (rounds, interval, run length).

The checks here run before any training: a setting that cannot work is
refused with its name, never discovered rounds later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .early_bird import MaskWindow
from .names import DEFAULT_EXCLUDE, FINAL_LAYERS, pattern_list, select_model_prunable, select_prunable
from .rewind import ROUND_BEST, ROUND_END, RewindPoint
from .strategies import check_rate, count_to_prune, get_strategy

EARLY_BIRD_KEYS = ('interval', 'window', 'eps', 'min_progress')


class IMPConfigError(ValueError):
    """An IMP set-up that cannot work, found before training starts."""


def _check_types(who: str, **values) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if key in ('interval', 'rounds', 'seed'):
            if isinstance(value, bool) or not isinstance(value, int):
                raise IMPConfigError(f'{who}: {key} must be a whole number, got {value!r}')
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise IMPConfigError(f'{who}: {key} must be a number, got {value!r} ({type(value).__name__})')


def _early_bird_options(who: str, options: dict | None) -> dict | None:
    """``early_bird`` checked and completed: interval (required), window, eps, min_progress."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise IMPConfigError(f'{who}: early_bird must be a dict (interval, window, eps, min_progress), '
                             f'got {options!r}')
    unknown = sorted(set(options) - set(EARLY_BIRD_KEYS))
    if unknown:
        raise IMPConfigError(f'{who}: early_bird has unknown keys {unknown}; it takes interval, window, eps '
                             f'and min_progress')
    if 'interval' not in options:
        raise IMPConfigError(f'{who}: early_bird needs an interval (epochs or iterations between two masks)')
    options = {'window': 5, 'eps': 0.1, 'min_progress': 0, **options}
    for key in ('interval', 'min_progress'):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (key == 'interval'):
            raise IMPConfigError(f'{who}: early_bird {key} must be a whole number >= {int(key == "interval")}, '
                                 f'got {value!r}')
    try:
        MaskWindow(options['window'], options['eps'])
    except ValueError as e:
        raise IMPConfigError(f'{who}: {e}') from None
    return options


@dataclass(frozen=True)
class IMPSettings:
    """Everything that defines an IMP run, as the user gave it (checked by ``IMPSettings.check``).

    Fields:
        interval: epochs (epoch-based loop) or iterations (iteration-based)
            per round; default: the configured run length.
        rounds: pruning steps; the last ticket is trained for one more round.
        target_sparsity: instead of ``rounds``: prune until at least this sparsity.
        rate: fraction of the remaining weights removed per round.
        strategy: a registered strategy (``ltcv_mm.core.STRATEGIES``):
            ``global_magnitude`` (the paper), ``layerwise_magnitude``,
            ``random_global``, ``random_layerwise``, ``random_like``, ``semi_structured_2_4``.
        refill: after each pruning, refill the ticket into whole channels of each
            residual block's inner convs (``ltcv_mm.core.channel_refill``,
            Structure-LTH): a channel-structured ticket.
        rewind: ``pt``, ``pt_trans``, ``lt`` or ``rewind_lt``
            (``ltcv_mm.core.rewind.MODES``).
        rewind_at: epochs or iterations before the rewind point is taken: 0
            (the start), up to ``interval``, ``'round_end'`` (the end of the
            dense round 0) or ``'round_best'`` (the weights of round 0's best
            validation, as the seed code's downstream ``pt``).
        rewind_unit: ``'loop'`` (default: ``rewind_at`` counts epochs in an
            epoch-based loop, iterations in an iteration-based one) or
            ``'iters'``: iterations in either, for late resetting inside the
            first epoch of a detector (Girish et al., CVPR 2021).
        rewind_keys: patterns of the model's state keys that are rewound
            (default all; the seed's SimCLR rewinds ``backbone.*`` only).
        prune_first: prune the starting weights before any training (round 0
            only validates them), as the seed code's ImageNet, SimCLR and MoCo
            IMP; the run is then ``rounds * interval`` long.
        restart_optimizer: give every round a fresh optimizer state (default);
            False keeps it across prunings (the seed's SimCLR and MoCo), the
            pruned weights' entries zeroed.
        test_at_best: also run the test loop whenever a round's validation
            metric is the best of that round, and record the test metrics at
            the round's best validation (the seed code's downstream report).
        include, exclude: canonical-name patterns of the prunable convs
            (default: every conv but the stem); the others stay dense.
        scope: ``'backbone'`` (default: the ResNet's convs) or ``'model'``:
            also every conv and linear weight outside it (a detector's neck
            and heads), under one global ranking, keyed by full name in the
            tickets; the layers matching ``keep_dense`` stay dense (by
            default the last classifier and box / mask / segmentation
            layers of the stock heads, as Girish et al., CVPR 2021).
        prefix: which copy of the backbone decides the masks (default the
            first ResNet in the model, ``backbone.``); the masks then apply to
            every copy.
        metric: key of the validation metric to record (default: the first).
        save_dir: where tickets and the summary go (default ``work_dir/tickets``).
        source: the pre-training recorded in the tickets (``supervised``, ``simclr``, ...).
        seed: seed of the random strategies (plus the round index).
        early_bird: end a round early once its pruning step's mask stops
            changing (You et al., ICLR 2020; ``ltcv_mm.core.early_bird``):
            ``dict(interval, window=5, eps=0.1, min_progress=0)``. Every
            ``interval`` epochs or iterations of a round the hook draws the
            mask the step would draw now; when the distances from the newest
            to the ``window - 1`` before it are all below ``eps``, and the
            round has trained ``min_progress`` or more, the round ends there:
            it is validated, and that mask is its pruning. The run shortens by
            what the round did not train. The last round (the final ticket's
            training) always runs in full. Off by default.
    """
    interval: int | None = None
    rounds: int | None = None
    target_sparsity: float | None = None
    rate: float = 0.2
    strategy: str = 'global_magnitude'
    refill: bool = False
    rewind: str = 'pt'
    rewind_at: int | str = 0
    rewind_unit: str = 'loop'
    rewind_keys: tuple[str, ...] = ('*',)
    include: tuple[str, ...] = ('*',)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    prefix: str | None = None
    scope: str = 'backbone'
    keep_dense: tuple[str, ...] = FINAL_LAYERS
    prune_first: bool = False
    restart_optimizer: bool = True
    test_at_best: bool = False
    metric: str | None = None
    save_dir: str | None = None
    source: str | None = None
    seed: int = 0
    early_bird: dict | None = field(default=None, hash=False)

    @classmethod
    def check(cls, who: str = 'IMP', **given: Any) -> 'IMPSettings':
        """The settings ``given`` (IMPHook's arguments), each checked; errors start with ``who``."""
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        if unknown:
            raise IMPConfigError(f'{who}: unknown settings {unknown}')
        s = {**{k: f.default for k, f in cls.__dataclass_fields__.items()}, **given}
        _check_types(who, interval=s['interval'], rounds=s['rounds'], seed=s['seed'],
                     target_sparsity=s['target_sparsity'], rate=s['rate'])
        for key in ('prune_first', 'restart_optimizer', 'test_at_best', 'refill'):
            if not isinstance(s[key], bool):  # 'no' is true in Python: never read a string as a switch
                raise IMPConfigError(f'{who}: {key} must be True or False, got {s[key]!r}')
        for key in ('metric', 'save_dir', 'source', 'prefix'):
            if s[key] is not None and not isinstance(s[key], str):  # found only after training otherwise
                raise IMPConfigError(f'{who}: {key} must be a string, got {s[key]!r}')
        if not 0 <= s['seed'] < 2 ** 63:  # torch.Generator's range, checked before round 0 trains
            raise IMPConfigError(f'{who}: seed must be in [0, 2**63), got {s["seed"]}')
        interval, rounds, target = s['interval'], s['rounds'], s['target_sparsity']
        if interval is not None and interval < 1:
            raise IMPConfigError(f'{who}: interval must be >= 1, got {interval}')
        if interval is None and rounds is None and target is None:
            raise IMPConfigError(f'{who}: set rounds or target_sparsity (each round then lasts the '
                                 'configured run), or an interval')
        if rounds is not None and target is not None:
            raise IMPConfigError(f'{who}: give rounds or target_sparsity, not both')
        if rounds is not None and rounds < 1:
            raise IMPConfigError(f'{who}: rounds must be >= 1, got {rounds}')
        if target is not None and not 0.0 < target < 1.0:
            raise IMPConfigError(f'{who}: target_sparsity must be in (0, 1), got {target}')
        try:
            s['rate'] = check_rate(s['rate'])
            get_strategy(s['strategy'])
            s['rewind_keys'] = RewindPoint(s['rewind'], s['rewind_at'], s['rewind_keys']).keys
        except (ValueError, KeyError) as e:
            raise IMPConfigError(f'{who}: {e.args[0]}') from None
        if s['strategy'] == 'semi_structured_2_4' and (target is not None or rounds != 1):
            raise IMPConfigError(f'{who}: semi_structured_2_4 fixes its 50 % in one step, whatever the rate; '
                                 f'set rounds=1 (got rounds={rounds}, target_sparsity={target})')
        if s['refill'] and s['strategy'] == 'semi_structured_2_4':
            raise IMPConfigError(f'{who}: refill makes whole channels, semi_structured_2_4 keeps 2 of every 4 '
                                 f'weights: choose one')
        if s['rewind_unit'] not in ('loop', 'iters'):
            raise IMPConfigError(f"{who}: rewind_unit must be 'loop' or 'iters', got {s['rewind_unit']!r}")
        if s['rewind_unit'] == 'iters' and isinstance(s['rewind_at'], str):
            raise IMPConfigError(f"{who}: rewind_unit='iters' needs rewind_at as a count, got {s['rewind_at']!r}")
        if s['scope'] not in ('backbone', 'model'):
            raise IMPConfigError(f"{who}: scope must be 'backbone' or 'model', got {s['scope']!r}")
        for key in ('keep_dense', 'include', 'exclude'):
            s[key] = tuple(pattern_list(s[key], f'{who} {key}'))
        if s['prune_first'] and s['rewind_at'] not in (0, ROUND_END):
            raise IMPConfigError(f'{who}: prune_first prunes before any training, so the rewind point can only '
                                 f'be the start (rewind_at=0), not {s["rewind_at"]!r}')
        s['early_bird'] = _early_bird_options(who, s['early_bird'])
        return cls(**s)

    def describe(self, unit: str) -> str:
        """The settings that shape the run, for its log (``unit``: the loop's epochs or iterations)."""
        eb = self.early_bird
        return (f'rate {self.rate}, strategy {self.strategy}'
                + (', refilled into whole channels' if self.refill else '') + f', rewind {self.rewind}'
                + (f' at {self.rewind_at} {"iterations" if self.rewind_unit == "iters" else unit}'
                   if self.rewind_at else '')
                + (', pruning before any training' if self.prune_first else '')
                + ('' if self.restart_optimizer else ', optimizer state kept across rounds')
                + (f', early-bird rounds (a mask every {eb["interval"]} {unit}, window {eb["window"]}, '
                   f'eps {eb["eps"]})' if eb else ''))

    def prunable(self, params: dict[str, Any]) -> dict[str, Any]:
        """The weights among a model's ``named_parameters`` that the run prunes."""
        weights = select_prunable(params, include=self.include, exclude=self.exclude, prefix=self.prefix)
        if self.scope == 'model':
            weights.update(select_model_prunable(params, self.keep_dense))
        return weights

    def new_rewind_point(self) -> RewindPoint:
        return RewindPoint(self.rewind, self.rewind_at, self.rewind_keys)

    def new_mask_window(self) -> MaskWindow | None:
        return MaskWindow(self.early_bird['window'], self.early_bird['eps']) if self.early_bird else None

    @property
    def rewind_at_round_end(self) -> bool:
        return self.rewind_at == ROUND_END

    @property
    def needs_validation(self) -> bool:
        """Whether the run cannot work without a validation loop (round 0's best is the rewind point)."""
        return self.rewind_at == ROUND_BEST


@dataclass(frozen=True)
class IMPPlan:
    """How long the run is: ``rounds`` prunings, ``interval`` epochs or iterations per round.

    Round 0 trains (or, with ``prune_first``, only validates) the starting
    model; each pruning is followed by a round that trains the new ticket, so
    the run is ``(rounds + 1) * interval`` long, or ``rounds * interval``
    with ``prune_first``, less what early-bird rounds did not train. The
    configured loop (``train_cfg.max_epochs`` / ``max_iters``) is one round
    by default; with an explicit ``interval`` and neither ``rounds`` nor
    ``target_sparsity``, as many rounds are fitted as the configured loop holds.
    """
    interval: int
    rounds: int
    prune_first: bool

    @classmethod
    def make(cls, s: IMPSettings, configured: int, prunable: int, unit: str, who: str = 'IMP',
             rounds: int | None = None) -> 'IMPPlan':
        """The plan for a loop configured to run ``configured`` epochs / iterations over ``prunable``
        weights; ``rounds``: the count a resumed run already fixed (``target_sparsity`` is not re-solved)."""
        interval = s.interval if s.interval is not None else configured
        rounds = rounds if rounds is not None else s.rounds
        if rounds is None and s.target_sparsity is not None:
            rounds = rounds_to_target(s.rate, s.target_sparsity, prunable, who)
        elif rounds is None:
            if interval > configured:
                raise IMPConfigError(f'{who}: interval ({interval} {unit}) is longer than the run '
                                     f'({configured} {unit})')
            rounds = configured // interval - 1
            if rounds < 1:
                raise IMPConfigError(f'{who}: a run of {configured} {unit} holds no pruning round '
                                     f'of {interval} {unit} followed by training: make it at least '
                                     f'{2 * interval} {unit}, or set rounds')
        eb = s.early_bird
        if eb and eb['interval'] >= interval:
            raise IMPConfigError(f'{who}: early_bird interval ({eb["interval"]} {unit}) must be '
                                 f'shorter than the round ({interval} {unit}), or no mask is drawn inside it')
        if eb and eb['window'] * eb['interval'] >= interval:  # masks are drawn strictly inside the round
            raise IMPConfigError(f'{who}: early_bird window {eb["window"]} x interval {eb["interval"]} = '
                                 f'{eb["window"] * eb["interval"]} {unit} is not shorter than the round ({interval} '
                                 f'{unit}): the window never fills, so no round can end early')
        if eb and eb['min_progress'] >= interval:
            raise IMPConfigError(f'{who}: early_bird min_progress {eb["min_progress"]} {unit} is not shorter than '
                                 f'the round ({interval} {unit}), so no round can end early')
        return cls(interval, rounds, s.prune_first)

    @property
    def lead(self) -> int:
        """Trained rounds before the first pruning: 1, or 0 with ``prune_first``."""
        return 0 if self.prune_first else 1

    @property
    def first_pruning(self) -> int:
        """Epochs or iterations trained before the first pruning."""
        return self.lead * self.interval

    def round_start(self, round_idx: int) -> int:
        """Where round ``round_idx`` starts when no round ended early."""
        return max(round_idx + self.lead - 1, 0) * self.interval

    def length(self, round_idx: int, round_start: int) -> int:
        """The run's length as it stands in round ``round_idx``: that round in full, then every later one."""
        rounds_left = self.rounds - round_idx + (0 if self.prune_first and round_idx == 0 else 1)
        return round_start + rounds_left * self.interval


def rounds_to_target(rate: float, target: float, total: int, who: str = 'IMP') -> int:
    """Rounds of pruning ``rate`` of what is left until at least ``target`` of ``total`` weights are pruned."""
    kept, rounds = total, 0
    while 1.0 - kept / total < target:
        step = count_to_prune(rate, kept)
        if step == 0:  # round(rate * kept) is 0 from here on: pruning stops for good
            raise IMPConfigError(
                f'{who}: target_sparsity {target} cannot be reached at rate {rate}: once {kept} of the '
                f'{total:,} weights are left, a round removes round({rate} * {kept}) = 0; the highest '
                f'reachable sparsity is {1.0 - kept / total:.6%} (after {rounds} rounds)')
        kept -= step
        rounds += 1
    return rounds
