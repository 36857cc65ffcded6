"""Perturbation sensitivity: the perturbations on known inputs, and tools/perturb.py on a real model."""
import json

import pytest
import torch
from mmengine.config import Config

from ltcv_mm.analysis.perturbation import add_relative_noise, flip_masks
from ltcv_mm.core import Ticket, load_ticket, prune, save_ticket, select_prunable

from helpers import ROOT, run_tool
from tiny_runs import tiny_classifier_cfg, write_colour_folder


def _ticket_and_weights():
    gen = torch.Generator().manual_seed(0)
    w = {'layer1.0.conv1.weight': torch.randn(8, 4, 3, 3, generator=gen),
         'layer1.0.conv2.weight': torch.randn(8, 8, 1, 1, generator=gen)}
    return prune(w, rounds=2), w


def test_flips_keep_every_layers_density_and_move_the_asked_fraction():
    ticket, _ = _ticket_and_weights()
    flipped = flip_masks(ticket, 0.25, torch.Generator().manual_seed(1))
    for name, m in ticket.masks.items():
        f = flipped.masks[name]
        assert int(f.sum()) == int(m.sum())  # density unchanged
        assert int((m & ~f).sum()) == round(0.25 * int(m.sum()))  # that many kept ones pruned
    assert flip_masks(ticket, 0.0, torch.Generator()) == ticket
    with pytest.raises(ValueError, match='flip fraction must be in'):
        flip_masks(ticket, 1.5, torch.Generator())
    # a layer with fewer pruned than flipped entries revives all it has
    t = Ticket({'layer1.0.conv1.weight': torch.tensor([True, True, True, False]).view(4, 1, 1, 1)})
    f = flip_masks(t, 1.0, torch.Generator()).masks['layer1.0.conv1.weight'].view(-1)
    assert bool(f[3]) and int(f.sum()) == 3


def test_noise_is_relative_to_each_layers_kept_weights_and_spares_pruned_ones():
    ticket, w = _ticket_and_weights()
    weights = {k: (v * ticket.masks[k]) for k, v in w.items()}
    before = {k: v.clone() for k, v in weights.items()}
    pairs = [(k, weights[k], ticket.masks[k]) for k in weights]
    add_relative_noise(pairs, 0.0, torch.Generator())
    assert all(torch.equal(weights[k], before[k]) for k in weights)
    weights['layer1.0.conv1.weight'].mul_(100)  # a layer with 100x the spread gets 100x the noise
    before = {k: v.clone() for k, v in weights.items()}
    add_relative_noise(pairs, 0.5, torch.Generator().manual_seed(3))
    spread = {}
    for k, m in ticket.masks.items():
        d = weights[k] - before[k]
        assert torch.count_nonzero(d[~m]) == 0  # pruned weights untouched
        spread[k] = float(d[m].std() / before[k][m].std())
    assert all(0.3 < s < 0.7 for s in spread.values()), spread


def test_perturb_tool_on_a_real_classifier(tmp_path):
    from mmengine.runner import Runner
    data = write_colour_folder(tmp_path / 'data', per_class=6)
    cfg = tiny_classifier_cfg(tmp_path / 'work', data)
    cfg.update(test_dataloader=cfg['val_dataloader'], test_evaluator=cfg['val_evaluator'], test_cfg=dict())
    runner = Runner.from_cfg(Config(cfg))
    runner.train()  # a dense model, trained one epoch
    ticket = prune(select_prunable(dict(runner.model.named_parameters())), rounds=3)
    save_ticket(ticket, tmp_path / 't.safetensors')
    Config(cfg).dump(str(tmp_path / 'cfg.py'))
    out = run_tool(str(ROOT / 'tools/perturb.py'), str(tmp_path / 'cfg.py'), str(tmp_path / 'work/epoch_1.pth'),
                   '--ticket', str(tmp_path / 't.safetensors'), '--noise', '0', '2', '--flips', '0', '0.5',
                   '--repeats', '2', '--out', str(tmp_path / 'p.json'), '--png', str(tmp_path / 'p.png'),
                   '--work-dir', str(tmp_path / 'pw'))
    record = json.loads((tmp_path / 'p.json').read_text())
    assert record['metric'] == 'accuracy/top1' and record['sparsity'] == pytest.approx(ticket.sparsity)
    assert len(record['noise']['0.0']) == 1 and len(record['noise']['2.0']) == 2
    # level 0 of both is the same unperturbed model under the ticket
    assert record['noise']['0.0'] == record['flips']['0.0']
    assert (tmp_path / 'p.png').stat().st_size > 1000
    assert 'noise 2: accuracy/top1' in out.stdout
    assert load_ticket(tmp_path / 't.safetensors') == ticket  # the ticket file is not touched
