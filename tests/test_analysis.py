"""The analysis tools on tickets with known overlap and per-layer sparsity, and on a known IMP summary."""
import json

import pytest
import torch
from PIL import Image

from ltcv_mm.core import Ticket, save_ticket

from helpers import ROOT, run_tool

LAYERS = ('layer1.0.conv1.weight', 'layer4.2.conv3.weight')


def _ticket(kept_fraction: dict, offset: float = 0.0) -> Ticket:
    """Each layer keeps a contiguous run of its 100 weights: [offset, offset + fraction) of them."""
    masks = {}
    for name in LAYERS:
        m = torch.zeros(100, dtype=torch.bool)
        start = int(offset * 100)
        m[start:start + int(kept_fraction[name] * 100)] = True
        masks[name] = m.reshape(4, 25, 1, 1)
    return Ticket(masks)


@pytest.fixture
def tickets(tmp_path):
    half = {n: 0.5 for n in LAYERS}
    a = save_ticket(_ticket(half), tmp_path / 'a.safetensors')
    b = save_ticket(_ticket(half, offset=0.5), tmp_path / 'b.safetensors')               # disjoint from a
    c = save_ticket(_ticket({n: 0.75 for n in LAYERS}), tmp_path / 'c.safetensors')      # a within c
    d = save_ticket(_ticket({LAYERS[0]: 0.9, LAYERS[1]: 0.2}), tmp_path / 'd.safetensors')
    return a, b, c, d


def _png(path):
    with Image.open(path) as im:
        assert im.format == 'PNG' and im.size[0] > 200 and im.size[1] > 150
        return im.size


def test_overlap_matrix_and_heatmap(tickets, tmp_path):
    a, b, c, _ = tickets
    out = run_tool(str(ROOT / 'tools/ticket.py'), 'overlap', str(a), str(b), str(c), '--png', str(tmp_path / 'o.png'))
    lines = out.stdout.splitlines()
    assert lines[0] == 'IoU of kept weights'
    rows = [line.split() for line in lines[2:5]]  # after the title and the header
    values = {r[0]: [float(v) for v in r[1:]] for r in rows}
    assert values['a'] == [1.0, 0.0, pytest.approx(2 / 3, abs=1e-4)]
    assert values['b'] == [0.0, 1.0, 0.25]   # per layer |b & c| = 25, |b | c| = 100
    assert values['c'][2] == 1.0
    _png(tmp_path / 'o.png')


def test_plot_per_layer_sparsity(tickets, tmp_path):
    _, _, c, d = tickets
    out = run_tool(str(ROOT / 'tools/ticket.py'), 'plot', str(c), str(d), '-o', str(tmp_path / 'p.png'))
    table = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in out.stdout.splitlines()
             if line.startswith('layer')}
    assert table['layer1.0.conv1.weight'] == [25.0, 10.0]   # per cent sparse: c keeps 75 %, d 90 %
    assert table['layer4.2.conv3.weight'] == [25.0, 80.0]
    _png(tmp_path / 'p.png')
    other = save_ticket(Ticket({'layer2.0.conv1.weight': torch.ones(4, 4, 1, 1, dtype=torch.bool)}),
                        tmp_path / 'other.safetensors')
    bad = run_tool(str(ROOT / 'tools/ticket.py'), 'plot', str(c), str(other), '-o', str(tmp_path / 'x.png'),
                   check=False)
    assert bad.returncode != 0 and 'other.safetensors: its layers differ' in bad.stderr
    assert not (tmp_path / 'x.png').exists()


def _summary(path, metrics, name='accuracy/top1'):
    records = [{'round': r, 'sparsity': 1 - 0.8 ** r, 'density': 0.8 ** r, 'metric_name': name,
                'metric': v, 'metrics': {name: v}, 'train_loss': 1.0 + r,
                'ticket': None if r == 0 else f'tickets/ticket_round{r:02d}.safetensors'}
               for r, v in enumerate(metrics)]
    path.mkdir(parents=True, exist_ok=True)
    (path / 'imp_summary.json').write_text(json.dumps({'rate': 0.2, 'records': records}))


def test_analyze_imp_names_the_sparsest_matching_round(tmp_path):
    _summary(tmp_path / 'run/tickets', [80.0, 81.0, 79.6, 80.2, 77.0, 79.9])
    tool = str(ROOT / 'tools/analyze_imp.py')
    out = run_tool(tool, str(tmp_path / 'run'), '--png', str(tmp_path / 'c.png')).stdout
    assert 'highest sparsity matching dense: 48.80 % (round 3' in out      # round 5 (79.9) misses at tol 0
    out = run_tool(tool, str(tmp_path / 'run'), '--tolerance', '0.5').stdout
    assert 'highest sparsity matching dense: 67.23 % (round 5' in out      # 79.9 >= 80 - 0.5
    _png(tmp_path / 'c.png')
    _summary(tmp_path / 'worse', [80.0, 70.0])
    assert 'no pruned round matches' in run_tool(tool, str(tmp_path / 'worse')).stdout
    bad = run_tool(tool, str(tmp_path / 'run'), '--metric', 'mAP', check=False)
    assert bad.returncode != 0 and "metric 'mAP' not recorded" in bad.stderr
    missing = run_tool(tool, str(tmp_path / 'nothing'), check=False)
    assert missing.returncode != 0 and 'no imp_summary.json' in missing.stderr


def test_analyze_imp_judges_self_supervised_runs_by_train_loss(tmp_path):
    _summary(tmp_path / 'ssl', [None, None, None], name=None)
    out = run_tool(str(ROOT / 'tools/analyze_imp.py'), str(tmp_path / 'ssl'), '--tolerance', '1.0').stdout
    assert 'train loss (lower is better)' in out
    assert 'highest sparsity matching dense: 20.00 % (round 1' in out      # losses 1, 2, 3
