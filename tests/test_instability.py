"""Instability analysis: the path's pieces on known inputs, and tools/instability.py on a real classifier."""
import json

import pytest
import torch
from mmengine.config import Config
from torch import nn

from ltcv_mm.analysis.instability import barrier, interpolate, recompute_batchnorm
from ltcv_mm.core import prune, save_ticket, select_prunable

from helpers import ROOT, run_tool
from tiny_runs import tiny_classifier_cfg, write_colour_folder


def test_interpolation_is_exact_at_the_ends_and_linear_between():
    a = {'w': torch.tensor([1.0, -2.0]), 'n': torch.tensor(3)}
    b = {'w': torch.tensor([3.0, 2.0]), 'n': torch.tensor(7)}
    assert torch.equal(interpolate(a, b, 0)['w'], a['w']) and torch.equal(interpolate(a, b, 1)['w'], b['w'])
    assert torch.allclose(interpolate(a, b, 0.25)['w'], torch.tensor([1.5, -1.0]))
    assert int(interpolate(a, b, 0.5)['n']) == 3  # integer buffers from the first copy
    with pytest.raises(ValueError, match='differ in keys'):
        interpolate(a, {'w': b['w']}, 0.5)


def test_barrier_is_the_worst_point_against_the_mean_of_the_ends():
    assert barrier([80.0, 70.0, 60.0, 78.0, 82.0]) == pytest.approx(21.0)
    assert barrier([80.0, 82.0, 80.0]) == 0.0  # never below the ends' mean
    assert barrier([80.0, 81.0, 82.0]) == pytest.approx(1.0)  # the worse end counts, as Frankle et al.
    assert barrier([1.0, 3.0, 1.0], higher_is_better=False) == pytest.approx(2.0)  # a loss


def test_a_path_with_a_point_that_is_not_a_number_has_no_barrier_and_no_verdict():
    """min and max skip NaN: [1, nan, 1] used to be a flat, stable path with barrier 0.0."""
    from ltcv_mm.analysis.instability import verdict_of
    for path in ([1.0, float('nan'), 1.0], [float('nan'), 1.0], [1.0, float('inf'), 0.5], [80.0, None, 80.0]):
        assert barrier(path) is None, path
    assert verdict_of(None, 2.0) == 'undefined: a point of the path is not a number'
    assert verdict_of(0.5, 2.0) == 'stable' and verdict_of(2.0, 2.0) == 'unstable'
    json.dumps({'barrier': barrier([1.0, float('nan'), 1.0])}, allow_nan=False)  # strict JSON: null


def test_batchnorm_statistics_are_the_plain_average_over_the_batches():
    bn = nn.BatchNorm1d(2)
    bn.running_mean.fill_(5.0)
    batches = [torch.tensor([[0.0, 1.0], [2.0, 3.0]]), torch.tensor([[4.0, 5.0], [6.0, 7.0]])]
    bn.eval()
    assert recompute_batchnorm(bn, bn, batches) == 1
    assert torch.allclose(bn.running_mean, torch.tensor([3.0, 4.0]))  # the mean of the two batch means
    assert not bn.training and bn.momentum == 0.1  # restored


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('instability')
    data = write_colour_folder(root / 'data', per_class=6)
    cfg = tiny_classifier_cfg(root / 'w', data)
    from mmengine.runner import Runner
    runner = Runner.from_cfg(Config(cfg))
    ticket = save_ticket(prune(select_prunable(dict(runner.model.named_parameters())), rounds=2),
                         root / 't.safetensors')
    torch.save({'state_dict': runner.model.state_dict()}, root / 'start.pth')
    cfg['load_from'] = str(root / 'start.pth')  # a fixed start, whatever the seed
    cfg['optim_wrapper'] = dict(optimizer=dict(type='SGD', lr=0.2, momentum=0.9))
    Config(cfg).dump(str(root / 'cfg.py'))
    return root, ticket


def _run(setup, seeds, name, bn_batches=2, config='cfg.py'):
    root, ticket = setup
    out = root / f'{name}.json'
    run_tool(str(ROOT / 'tools/instability.py'), str(root / config), '--ticket', str(ticket), '--seeds',
             *map(str, seeds), '--alphas', '5', '--bn-batches', str(bn_batches), '--work-dir', str(root / name),
             '--out', str(out), '--png', str(root / f'{name}.png'))
    return json.loads(out.read_text())


def test_identical_copies_have_no_barrier(setup):
    record = _run(setup, (0, 0), 'same')
    values = [p['metric'] for p in record['path']]
    assert len(values) == 5 and len(set(values)) == 1  # one model at every alpha
    assert record['barrier'] == 0.0 and record['verdict'] == 'stable'
    assert all(p['pruned_nonzero'] == 0 for p in record['path'])  # the masks hold at every alpha


def test_the_ends_are_each_copys_own_metric(setup):
    ab, ba = _run(setup, (0, 1), 'ab'), _run(setup, (1, 0), 'ba')
    # the seed-1 copy is copy B in one run and copy A in the other: the same model, judged the same way
    assert ab['path'][-1]['metric'] == ba['path'][0]['metric']
    assert ab['path'][0]['metric'] == ba['path'][-1]['metric']
    assert all(p['pruned_nonzero'] == 0 for p in ab['path'])
    assert (setup[0] / 'ab.png').stat().st_size > 1000


def test_without_recomputed_statistics_the_ends_are_each_copys_own_metric(setup):
    root, _ = setup
    cfg = Config.fromfile(str(root / 'cfg.py'))  # a gentler schedule: copies that tell the classes apart
    cfg.optim_wrapper.optimizer.lr = 0.02
    cfg.optim_wrapper.clip_grad = dict(max_norm=1.0)
    cfg.param_scheduler = []
    cfg.train_cfg.max_epochs = 10
    cfg.model.backbone.norm_cfg = dict(type='BN', momentum=None)  # running statistics: the plain average
    cfg.dump(str(root / 'cfg_own.py'))
    record = _run(setup, (0, 1), 'own', bn_batches=0, config='cfg_own.py')
    assert record['bn_batches'] == 0 and record['own'] != [50.0, 50.0]  # copies that do not guess one class
    # alpha 0 and 1 load each copy exactly, running statistics included: its own final validation
    assert record['path'][0]['metric'] == record['own'][0] and record['path'][-1]['metric'] == record['own'][1]
    assert all(p['pruned_nonzero'] == 0 for p in record['path'])


def test_a_metric_no_evaluator_reports_is_refused_before_either_copy_trains(setup):
    root, ticket = setup
    proc = run_tool(str(ROOT / 'tools/instability.py'), str(root / 'cfg.py'), '--ticket', str(ticket),
                    '--metric', 'coco/bbox_mAP', '--work-dir', str(root / 'nope'), check=False)
    assert proc.returncode == 1 and "linear path: metric 'coco/bbox_mAP' cannot come from the validation " \
        "evaluator, whose metrics report 'accuracy/...' only" in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr and not list((root / 'nope').rglob('*.pth'))  # nothing trained
