"""IMPRun, the plain-torch owner of an IMP run, driven by a scripted training loop without any Runner.

The loop below is what IMPHook does in mmengine's loops, reduced to its
events: the run decides when rounds end, what they record, which ticket
comes next and what the model rewinds to; a run stopped anywhere and
continued from its ``state_dict`` ends with the same tickets and records.
"""
import copy
import io

import pytest
import torch
from torch import nn

from ltcv_mm.core import Ticket, apply_ticket, load_ticket
from ltcv_mm.core.imp_record import RunRecord
from ltcv_mm.core.imp_run import IMPRun
from ltcv_mm.core.imp_settings import IMPConfigError, IMPPlan, IMPSettings
from ltcv_mm.core.strategies import global_magnitude

INTERVAL = 2  # epochs per round


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x + self.conv2(torch.relu(self.bn1(self.conv1(x))))


class TinyResNet(nn.Module):
    """ResNet's canonical names (conv1, layer1.0.conv1, ..., fc) at a size a test trains in a blink."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.layer1, self.layer2 = nn.Sequential(Block(6)), nn.Sequential(Block(6))
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.layer2(self.layer1(self.conv1(x))).mean((2, 3)))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 3, (16,), generator=g)


class Trainer:
    """A plain loop of epochs that tells an IMPRun what happens, as IMPHook does with a Runner's events."""

    def __init__(self, run: IMPRun, validations: list[float] | None = None) -> None:
        torch.manual_seed(0)
        self.run, self.model = run, TinyResNet()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        self.x, self.y = _data()
        self.ticket: Ticket | None = None
        self.done = 0
        self.validations = validations  # scripted metric per epoch (else accuracy on the data)
        self.drawn_on_rank0 = 0
        self.rewound: list[dict] = []  # the model as each pruned round starts

    def from_rank0(self, make):
        self.drawn_on_rank0 += 1
        return make()

    def weights(self):
        return self.run.settings.prunable(dict(self.model.named_parameters()))

    def start(self) -> None:
        self.run.start(configured=INTERVAL, prunable=sum(w.numel() for w in self.weights().values()))
        self.run.trained(self.done, self.model)

    def validate(self) -> dict:
        if self.validations is not None:
            return {'acc': self.validations[self.done - 1]}
        with torch.no_grad():
            return {'acc': float((self.model(self.x).argmax(1) == self.y).float().mean())}

    def epoch(self) -> None:
        run = self.run
        if run.may_end_round(self.done) and run.round_is_over(self.done):
            run.finish_round(self.done, run.metrics_at(self.done) or self.validate(), self.ticket)
            self.ticket = run.prune(self.model, self.weights(), self.ticket, self.done, self.from_rank0)
            self.opt.state.clear()  # the restart IMPHook makes with the optimizer's first state
            apply_ticket(self.ticket, self.model)  # the enforcement IMPHook holds
            self.rewound.append(copy.deepcopy(self.model.state_dict()))
        for _ in range(2):
            self.opt.zero_grad()
            nn.functional.cross_entropy(self.model(self.x), self.y).backward()
            self.opt.step()
            if self.ticket is not None:
                apply_ticket(self.ticket, self.model, self.opt)
        self.done += 1
        run.trained(self.done, self.model)
        run.validated(self.done, self.validate(), self.model)

    def train(self, until: int | None = None) -> None:
        while self.done < (self.run.length if until is None else until):
            self.epoch()
        if until is None and self.run.finished(self.done):
            self.run.finish_round(self.done, self.run.metrics_at(self.done), self.ticket)


def _run(tmp_path, name: str, **settings) -> IMPRun:
    return IMPRun(IMPSettings.check(**{'rounds': 3, 'rate': 0.3, **settings}), RunRecord(tmp_path / name))


def test_a_scripted_run_prunes_rewinds_and_records_every_round(tmp_path):
    trainer = Trainer(_run(tmp_path, 'a'))
    start = copy.deepcopy(trainer.model.state_dict())
    trainer.start()
    ends = {}
    while trainer.done < trainer.run.length:  # the weights each pruning draws from, as the oracle sees them
        if trainer.done and trainer.done % INTERVAL == 0:
            ends[trainer.done // INTERVAL] = copy.deepcopy(trainer.weights())
        trainer.epoch()
    trainer.train()
    run = trainer.run
    assert trainer.done == (3 + 1) * INTERVAL and run.round == 3 and trainer.drawn_on_rank0 == 3
    assert [r['round'] for r in run.records] == [0, 1, 2, 3]
    current = None
    for k in (1, 2, 3):
        expected = global_magnitude(ends[k], current or Ticket.dense(ends[k]), 0.3,
                                    torch.Generator().manual_seed(k - 1))
        ticket = load_ticket(RunRecord(tmp_path / 'a').ticket_path(k))
        assert ticket == expected and ticket.meta['round'] == k and ticket.meta['metric'] == run.records[k]['metric']
        assert run.records[k]['sparsity'] == ticket.sparsity
        current = expected
    assert run.records[0]['sparsity'] == 0.0 and run.records[0]['ticket'] is None
    finished = RunRecord.find(tmp_path / 'a').read()
    assert finished.rounds == [0, 1, 2, 3] and finished.records == run.records
    assert finished.last_ticket == (tmp_path / 'a' / 'ticket_round03.safetensors')
    assert finished.settings['rounds'] == 3 and finished.settings['interval'] == INTERVAL
    # every pruned round starts from the starting state (BatchNorm statistics too), its ticket's pruned weights zero
    assert all(torch.equal(run.rewind.snapshot[k], v) for k, v in start.items())
    for k, state in enumerate(trainer.rewound, 1):
        masks = load_ticket(RunRecord(tmp_path / 'a').ticket_path(k)).masks
        for name, value in start.items():
            expected = value * masks[name] if name in masks else value
            assert torch.equal(state[name], expected), (k, name)


@pytest.mark.parametrize('stop', [1, INTERVAL, INTERVAL + 1, 3 * INTERVAL])
def test_a_run_stopped_anywhere_and_continued_from_its_state_ends_the_same(tmp_path, stop):
    straight = Trainer(_run(tmp_path, 'straight'))
    straight.start()
    straight.train()

    first = Trainer(_run(tmp_path, 'resumed'))
    first.start()
    first.train(until=stop)
    buf = io.BytesIO()  # what a checkpoint does with it
    torch.save({'run': first.run.state_dict(), 'model': first.model.state_dict(), 'opt': first.opt.state_dict(),
                'ticket': first.ticket}, buf)
    saved = torch.load(io.BytesIO(buf.getvalue()), weights_only=False)

    second = Trainer(_run(tmp_path, 'resumed'))
    second.run.load_state_dict(saved['run'])
    second.model.load_state_dict(saved['model'])
    second.opt.load_state_dict(saved['opt'])
    second.ticket, second.done = saved['ticket'], stop
    second.run.start(configured=INTERVAL, prunable=sum(w.numel() for w in second.weights().values()))
    second.train()

    def strip(records):
        return [{k: v for k, v in r.items() if k != 'ticket'} for r in records]
    assert strip(second.run.records) == strip(straight.run.records)
    for k in (1, 2, 3):
        assert (load_ticket(RunRecord(tmp_path / 'resumed').ticket_path(k))
                == load_ticket(RunRecord(tmp_path / 'straight').ticket_path(k))), k


def test_round_best_rewinds_to_round_0s_best_validation_and_records_each_rounds_best(tmp_path):
    #         round 0    round 1    round 2   (validated after every epoch)
    scripted = [0.2, 0.7, 0.4, 0.9, 0.6, 0.3]
    trainer = Trainer(_run(tmp_path, 'best', rounds=2, rewind_at='round_best'), validations=scripted)
    trainer.start()
    at_best = None
    while trainer.done < trainer.run.length:
        trainer.epoch()
        if trainer.done == 2:  # round 0's best validation is after its second epoch
            at_best = copy.deepcopy(trainer.model.state_dict())
    trainer.train()
    records = trainer.run.records
    assert [r['best']['metric'] for r in records] == [0.7, 0.9, 0.6]
    assert [r['best']['at'] for r in records] == [2, 4, 5]
    assert all(torch.equal(trainer.run.rewind.snapshot[k], v) for k, v in at_best.items())


def test_early_bird_ends_a_round_once_its_masks_stop_changing(tmp_path):
    """Frozen weights: every drawn mask is the same, so each round ends as soon as the window is full."""
    run = _run(tmp_path, 'eb', rounds=2, interval=6, early_bird=dict(interval=1, window=3, eps=0.01))
    trainer = Trainer(run)
    trainer.opt.param_groups[0]['lr'] = 0.0
    trainer.start()
    stops = []
    while trainer.done < run.length:
        if run.may_end_round(trainer.done) and run.early_bird_says_stop(trainer.done, trainer.weights(),
                                                                        trainer.ticket, trainer.from_rank0):
            stops.append(trainer.done)
            run.finish_round(trainer.done, run.metrics_at(trainer.done), trainer.ticket)
            trainer.ticket = run.prune(trainer.model, trainer.weights(), trainer.ticket, trainer.done)
        trainer.epoch()
    trainer.train()
    assert stops == [3, 6]  # 3 masks at 1, 2, 3 epochs into each round
    assert [r['early_bird']['length'] for r in run.records] == [3, 3, 6]
    assert [r['early_bird']['ended_early'] for r in run.records] == [True, True, False]
    assert trainer.done == 12 and run.length == 12  # the run shortened by what the rounds did not train


def test_the_plan_and_the_settings_are_checked_once_before_training():
    s = IMPSettings.check(target_sparsity=0.5, rate=0.2)
    assert IMPPlan.make(s, configured=4, prunable=1000, unit='epochs').rounds == 4  # 0.8 ** 4 < 0.5
    with pytest.raises(IMPConfigError, match=r'IMP: a run of 3 epochs holds no pruning round of 2 epochs'):
        IMPPlan.make(IMPSettings.check(interval=2), configured=3, prunable=10, unit='epochs')
    with pytest.raises(IMPConfigError, match=r"IMP: unknown settings \['round'\]"):
        IMPSettings.check(round=2)
    with pytest.raises(dataclasses_frozen()):
        s.rate = 0.5
    assert IMPSettings.check(rounds=1, include='layer4*').include == ('layer4*',)


def dataclasses_frozen():
    import dataclasses
    return dataclasses.FrozenInstanceError


def test_the_state_keeps_the_checkpoint_layout_of_runs_made_before_imp_run(tmp_path):
    """IMPHook's checkpoint entry ``ltcv_imp`` had these keys before the run moved to core: such runs resume."""
    trainer = Trainer(_run(tmp_path, 'layout', interval=3, early_bird=dict(interval=1, window=2)))
    trainer.start()
    trainer.train(until=4)
    state = trainer.run.state_dict()
    assert set(state) == {'round', 'rounds', 'records', 'restart', 'rewind', 'best', 'round_start', 'early_bird'}
    assert set(state['rewind']) == {'mode', 'at', 'keys', 'best', 'snapshot'}
    assert set(state['early_bird']) == {'window', 'checks'} and state['round'] == 1


@pytest.mark.parametrize('early_bird, message', [
    (dict(interval=2, window=3), r'early_bird window 3 x interval 2 = 6 epochs is not shorter than the round \(6'),
    (dict(interval=1, window=2, min_progress=6), r'early_bird min_progress 6 epochs is not shorter than the round'),
])
def test_early_bird_settings_that_could_never_end_a_round_are_refused(early_bird, message):
    s = IMPSettings.check(interval=6, rounds=2, early_bird=early_bird)
    with pytest.raises(IMPConfigError, match=message):
        IMPPlan.make(s, configured=6, prunable=100, unit='epochs')
    IMPPlan.make(IMPSettings.check(interval=7, rounds=2, early_bird=early_bird), configured=7, prunable=100,
                 unit='epochs')  # one epoch more and the window fills inside the round


def test_a_checkpoint_from_a_later_round_than_the_run_has_is_refused(tmp_path):
    first = Trainer(_run(tmp_path, 'long', rounds=3))
    first.start()
    first.train(until=3 * INTERVAL + 1)  # in round 3
    shorter = _run(tmp_path, 'long', rounds=2)
    shorter.load_state_dict(first.run.state_dict())
    with pytest.raises(IMPConfigError, match=r'the checkpoint resumed is in round 3, but this run has 2 rounds'):
        shorter.start(configured=INTERVAL, prunable=1000)


def test_the_2_4_strategy_is_one_step_and_its_widths_are_checked_before_training():
    with pytest.raises(IMPConfigError, match=r'semi_structured_2_4 fixes its 50 % in one step.*rounds=3'):
        IMPSettings.check(rounds=3, strategy='semi_structured_2_4')
    with pytest.raises(IMPConfigError, match=r'set rounds=1 \(got rounds=None, target_sparsity=0.5\)'):
        IMPSettings.check(target_sparsity=0.5, strategy='semi_structured_2_4')
    from ltcv_mm.hooks.imp_checks import check_prunable
    s = IMPSettings.check(rounds=1, strategy='semi_structured_2_4')
    weights = {'layer1.0.conv1.weight': torch.zeros(8, 8, 3, 3), 'layer1.0.conv2.weight': torch.zeros(8, 6, 3, 3)}
    with pytest.raises(IMPConfigError, match=r"1 prunable layers cannot be split so \(first 'layer1.0.conv2.weight'"):
        check_prunable(weights, s, None)
    check_prunable({'layer1.0.conv1.weight': torch.zeros(8, 8, 3, 3)}, s, None)
