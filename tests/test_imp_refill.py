"""IMP with channel refill in a stock Runner: every round's ticket is whole channels and nested in the last,
and a resumed run or a DDP run gives the tickets of the uninterrupted single-process one."""
import json
from pathlib import Path

import pytest

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket
from ltcv_mm.core.channel_refill import block_convs
from ltcv_mm.core.imp_settings import IMPConfigError, IMPSettings

from helpers import train, train_ddp
from tiny_runs import tiny_classifier_cfg, write_colour_folder

IMP = dict(type='ltcv.IMPHook', rounds=2, rate=0.5, refill=True)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data')


def _cfg(work: Path, data: Path) -> dict:
    cfg = tiny_classifier_cfg(work, data, max_epochs=1)  # rounds of one epoch (2 iterations)
    cfg['custom_hooks'] = [dict(IMP)]
    return cfg


def _tickets(work: Path) -> dict:
    return {p.name: load_ticket(p) for p in sorted((work / 'tickets').glob('ticket_round*.safetensors'))}


@pytest.fixture(scope='module')
def straight(data, tmp_path_factory):
    work = tmp_path_factory.mktemp('refill') / 'straight'
    train(_cfg(work, data))
    return work


def test_every_rounds_ticket_is_whole_channels_nested_in_the_last(straight):
    tickets = _tickets(straight)
    assert sorted(tickets) == ['ticket_round01.safetensors', 'ticket_round02.safetensors']
    first, second = tickets.values()
    for t in (first, second):
        assert t.meta['refill'] == 'channels' and t.meta['kept_channels']
        for convs in block_convs(t.masks).values():
            for name in convs[:-1]:
                m = t.masks[name]
                rows, cols = m.flatten(1).any(1), m.transpose(0, 1).flatten(1).any(1)
                assert bool(m[rows][:, cols].all()), name  # kept channels whole over the live inputs
                assert t.meta['kept_channels'][name] == int(rows.sum())
    assert all(not bool((second.masks[k] & ~first.masks[k]).any()) for k in first.masks)
    assert second.sparsity > first.sparsity > 0.4
    summary = json.loads((straight / 'tickets/imp_summary.json').read_text())
    assert summary['refill'] is True


def test_a_resumed_run_ends_with_the_same_refilled_tickets(straight, data, tmp_path):
    cfg = _cfg(tmp_path / 'resumed', data)
    cfg.update(load_from=str(straight / 'epoch_2.pth'), resume=True)  # round 1 trained, not yet recorded
    train(cfg)
    expected, resumed = _tickets(straight), _tickets(tmp_path / 'resumed')
    assert list(resumed) == list(expected)
    for name, ticket in resumed.items():
        assert ticket == expected[name] and ticket.meta == expected[name].meta, name


def test_ddp_ranks_hold_the_same_refilled_tickets(data, tmp_path):
    cfg = _cfg(tmp_path / 'work', data)
    cfg['custom_hooks'] += [dict(type='MaskDigestHook'), dict(type='RankNoiseHook')]
    train_ddp(cfg, tmp_path / 'ddp.py')
    d0 = json.loads((tmp_path / 'work/mask_digests_rank0.json').read_text())
    assert d0 == json.loads((tmp_path / 'work/mask_digests_rank1.json').read_text())
    assert len({d for _, d in d0}) == 3  # dense, then two tickets
    assert all(t.meta['refill'] == 'channels' for t in _tickets(tmp_path / 'work').values())


def test_refill_settings_are_checked_before_training():
    with pytest.raises(IMPConfigError, match="refill must be True or False, got 'yes'"):
        IMPSettings.check(rounds=2, refill='yes')
    with pytest.raises(IMPConfigError, match='refill makes whole channels, semi_structured_2_4'):
        IMPSettings.check(rounds=1, strategy='semi_structured_2_4', refill=True)
    assert 'refilled into whole channels' in IMPSettings.check(rounds=2, refill=True).describe('epochs')
