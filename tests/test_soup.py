"""Sparse model soups: the mean of copies under one mask keeps the mask's zeros; tools/soup.py averages real
runs' checkpoints, the soup continues training under its ticket, and its pruning is the next round's ticket."""
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.core.soup import SoupError, average_state_dicts
from ltcv_mm.hooks import MaskApplyHook
from ltcv_mm.hooks.runner_access import find_hook

from helpers import ROOT, run_tool, train
from tiny_runs import tiny_classifier_cfg, write_colour_folder

TOOL = str(ROOT / 'tools/soup.py')
SHAPES = {'backbone.layer1.0.conv1.weight': (4, 8, 1, 1), 'backbone.layer1.0.bn1.running_mean': (4,),
          'backbone.layer1.0.bn1.num_batches_tracked': ()}


def _copies(ticket=None, n=3):
    out = []
    for i in range(n):
        g = torch.Generator().manual_seed(i)
        state = {k: torch.randn(s, generator=g) for k, s in SHAPES.items() if k.endswith(('weight', 'mean'))}
        state['backbone.layer1.0.bn1.num_batches_tracked'] = torch.tensor(10 + i)
        if ticket is not None:
            state['backbone.layer1.0.conv1.weight'] *= ticket.masks['layer1.0.conv1.weight']
        out.append(state)
    return out


def _ticket():
    w = {'layer1.0.conv1.weight': torch.randn(4, 8, 1, 1, generator=torch.Generator().manual_seed(9))}
    return prune(w, rate=0.6)


def test_the_soup_is_the_mean_of_the_copies_with_exact_zeros_where_the_mask_prunes():
    ticket = _ticket()
    copies = _copies(ticket)
    soup = average_state_dicts(copies, ticket)
    mask = ticket.masks['layer1.0.conv1.weight']
    key = 'backbone.layer1.0.conv1.weight'
    assert bool((soup[key][~mask] == 0).all()) and int(mask.sum()) == round(0.4 * 32)
    mean = torch.stack([c[key] for c in copies]).double().mean(0).float()
    assert torch.equal(soup[key][mask], mean[mask])
    running = torch.stack([c['backbone.layer1.0.bn1.running_mean'] for c in copies]).double().mean(0).float()
    assert torch.equal(soup['backbone.layer1.0.bn1.running_mean'], running)
    assert int(soup['backbone.layer1.0.bn1.num_batches_tracked']) == 12  # counts: the largest


def test_copies_that_cannot_make_one_soup_are_named():
    ticket = _ticket()
    with pytest.raises(SoupError, match=r"run b: 'backbone.layer1.0.conv1.weight' has \d+ non-zero weights where "
                                        r'the ticket prunes'):
        average_state_dicts([_copies(ticket)[0], _copies()[1]], ticket, names=['run a', 'run b'])
    other = _copies(ticket)
    del other[1]['backbone.layer1.0.bn1.running_mean']
    with pytest.raises(SoupError, match="copy 1: other keys than copy 0 .*'backbone.layer1.0.bn1.running_mean'"):
        average_state_dicts(other, ticket)
    with pytest.raises(SoupError, match='at least 2 copies'):
        average_state_dicts(_copies(ticket)[:1], ticket)


@pytest.fixture(scope='module')
def copies(tmp_path_factory):
    """Two runs under one ticket, told apart only by their seed (data order, head initialisation)."""
    root = tmp_path_factory.mktemp('soup')
    data = write_colour_folder(root / 'data')
    start = Runner.from_cfg(Config(tiny_classifier_cfg(root / 'w0', data)))
    ticket = save_ticket(prune(select_prunable(dict(start.model.named_parameters())), rate=0.5, meta={'round': 1}),
                         root / 'ticket.safetensors')
    paths = []
    for seed in (0, 1):
        cfg = tiny_classifier_cfg(root / f'run{seed}', data, max_epochs=1)
        cfg['randomness'] = dict(seed=seed)
        cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(ticket))]
        train(cfg)
        paths.append(root / f'run{seed}/epoch_1.pth')
    return root, data, ticket, paths


def test_the_tool_soups_real_runs_and_prunes_the_soup_into_the_next_rounds_ticket(copies):
    root, data, ticket_path, paths = copies
    soup_path, nxt_path = root / 'soup.pth', root / 'next.safetensors'
    out = run_tool(TOOL, *map(str, paths), '-o', str(soup_path), '--prune-rate', '0.5', '--next-ticket',
                   str(nxt_path)).stdout
    assert 'soup of 2 copies' in out and 'round 2' in out
    ticket, nxt = load_ticket(ticket_path), load_ticket(nxt_path)
    soup = torch.load(soup_path, weights_only=True)
    a, b = (torch.load(p, weights_only=True)['state_dict'] for p in paths)
    for canon, mask in ticket.masks.items():
        key = 'backbone.' + canon
        assert bool((soup['state_dict'][key][~mask] == 0).all())
        assert torch.equal(soup['state_dict'][key], ((a[key].double() + b[key].double()) / 2).float())
        assert not bool((nxt.masks[canon] & ~mask).any())  # the next ticket prunes from this one
    assert nxt.kept == ticket.kept - round(0.5 * ticket.kept)
    assert nxt.meta['method'] == 'soup' and nxt.meta['copies'] == 2 and nxt.meta['round'] == 2
    # the soup continues under its ticket (the soups paper's way): MaskApplyHook adopts it from load_from
    cfg = tiny_classifier_cfg(root / 'from_soup', data, max_epochs=1)
    cfg['load_from'] = str(soup_path)
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook')]
    runner = train(cfg)
    assert find_hook(runner, MaskApplyHook).ticket == ticket and find_hook(runner, MaskApplyHook).count_nonzero_pruned(
        runner) == 0


def test_the_tool_refuses_copies_under_other_tickets(copies, tmp_path):
    root, _, ticket_path, paths = copies
    other = save_ticket(prune(select_prunable(torch.load(paths[0], weights_only=True)['state_dict']), rate=0.7),
                        tmp_path / 'other.safetensors')
    proc = run_tool(TOOL, *map(str, paths), '-o', str(tmp_path / 's.pth'), '--ticket', str(other), check=False)
    assert proc.returncode != 0 and 'non-zero weights where the ticket prunes: it was not trained under this ticket' \
        in proc.stderr
    assert not (tmp_path / 's.pth').exists()
    proc = run_tool(TOOL, str(paths[0]), '-o', str(tmp_path / 's.pth'), check=False)
    assert proc.returncode == 2 and 'a soup needs at least 2 checkpoints' in proc.stderr
