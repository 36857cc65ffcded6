"""IMPHook's state in a checkpoint is complete: a run resumed from any checkpoint, in any round,
ends with the tickets and summary of the run that was never interrupted.

Epoch-based loops save at every epoch end (an epoch-based run killed mid-epoch
resumes from there); iteration-based ones at every iteration. The rewind
points are taken after training has started (mid round 0, end of round 0),
so they too must travel in the checkpoints.
"""
import json
from pathlib import Path

import pytest

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket

from helpers import train
from tiny_runs import tiny_classifier_cfg, write_colour_folder


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data')


def _cfg(work: Path, data: Path, by_epoch: bool) -> dict:
    if by_epoch:  # rounds of 2 epochs (2 iterations each), the rewind point after epoch 1
        cfg = tiny_classifier_cfg(work, data, max_epochs=2)
        imp = dict(type='ltcv.IMPHook', rounds=2, rewind='rewind_lt', rewind_at=1)
    else:  # rounds of 3 iterations, the rewind point at the end of round 0
        cfg = tiny_classifier_cfg(work, data)
        cfg['train_cfg'] = dict(by_epoch=False, max_iters=3, val_interval=3)
        cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=False, milestones=[2], gamma=0.1)]
        cfg['default_hooks'] = dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                                    logger=dict(type='LoggerHook', interval=1))
        imp = dict(type='ltcv.IMPHook', rounds=2, rewind='pt', rewind_at='round_end')
    cfg['custom_hooks'] = [imp]
    return cfg


def _outcome(work: Path) -> tuple[list, dict]:
    records = json.loads((work / 'tickets/imp_summary.json').read_text())['records']
    kept = [(r['round'], r['sparsity'], r['metric'], r['metrics'], Path(r['ticket'] or '-').name) for r in records]
    return kept, {p.name: load_ticket(p) for p in sorted((work / 'tickets').glob('ticket_round*.safetensors'))}


@pytest.mark.parametrize('by_epoch', [True, False], ids=['epoch-based', 'iteration-based'])
def test_resume_from_every_checkpoint_gives_the_same_tickets(data, tmp_path, by_epoch):
    straight = tmp_path / 'straight'
    train(_cfg(straight, data, by_epoch))
    records, tickets = _outcome(straight)
    assert [r[0] for r in records] == [0, 1, 2] and sorted(tickets) == ['ticket_round01.safetensors',
                                                                         'ticket_round02.safetensors']
    unit = 'epoch' if by_epoch else 'iter'
    length = 6 if by_epoch else 9
    checkpoints = [straight / f'{unit}_{k}.pth' for k in range(1, length)]
    assert all(p.exists() for p in checkpoints)
    for ckpt in checkpoints:
        work = tmp_path / f'from_{ckpt.stem}'
        cfg = _cfg(work, data, by_epoch)
        cfg.update(load_from=str(ckpt), resume=True)
        runner = train(cfg)
        assert (runner.epoch if by_epoch else runner.iter) == length
        resumed_records, resumed_tickets = _outcome(work)
        assert resumed_records == records, ckpt.name
        assert resumed_tickets, ckpt.name  # the last round always ends after any resume point
        for name, ticket in resumed_tickets.items():  # the rounds that ended after the resume point
            assert ticket == tickets[name], (ckpt.name, name)
            assert ticket.meta == tickets[name].meta, (ckpt.name, name)
