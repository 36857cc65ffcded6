"""tools/train.py, tools/test.py and tools/dist_train.sh, run as a user runs them."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from ltcv_mm.core import prune, save_ticket, select_prunable

from helpers import ROOT, assert_ticket_zeros, checkout_env, free_port, run_tool
from tiny_runs import NARROW_R50, tiny_classifier_cfg, write_colour_folder

NARROW = dict(type='mmpretrain.ResNet', **NARROW_R50)


@pytest.fixture(scope='module')
def sparse_cfg(tmp_path_factory):
    from mmpretrain.models.backbones import ResNet
    root = tmp_path_factory.mktemp('entry')
    write_colour_folder(root / 'data')
    torch.manual_seed(0)
    ticket = save_ticket(prune(select_prunable(dict(ResNet(**NARROW_R50)
                                                    .named_parameters())), rounds=3), root / 't.safetensors')
    cfg = tiny_classifier_cfg(root / 'unused', root / 'data', max_epochs=1)
    cfg.pop('work_dir')
    cfg.pop('experiment_name')
    cfg['custom_imports'] = dict(imports=['ltcv_mm'])
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', ticket=str(ticket), backbone=NARROW)
    cfg['test_dataloader'] = cfg['val_dataloader']
    cfg['test_evaluator'] = cfg['val_evaluator']
    cfg['test_cfg'] = dict()
    path = root / 'sparse_cls.py'
    Config(cfg).dump(str(path))
    return path, ticket


def test_train_resume_and_test(sparse_cfg, tmp_path):
    cfg, ticket = sparse_cfg
    work = tmp_path / 'work'
    run_tool(str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(work))
    assert_ticket_zeros(work / 'epoch_1.pth', ticket)
    run_tool(str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(work), '--resume',
             '--cfg-options', 'train_cfg.max_epochs=2')
    assert_ticket_zeros(work / 'epoch_2.pth', ticket)
    out = run_tool(str(ROOT / 'tools/test.py'), str(cfg), str(work / 'epoch_2.pth'), '--work-dir', str(work),
                   '--cfg-options', 'log_level=INFO')
    assert 'accuracy/top1' in out.stdout + out.stderr


def test_dist_train_with_two_processes_on_gloo(sparse_cfg, tmp_path):
    cfg, ticket = sparse_cfg
    env = checkout_env(PORT=str(free_port()), OMP_NUM_THREADS='1',
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', str(ROOT / 'tools/dist_train.sh'), str(cfg), '2', '--work-dir', str(tmp_path / 'w')],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_ticket_zeros(tmp_path / 'w/epoch_1.pth', ticket)


def test_runs_under_mmpretrains_own_train_script(sparse_cfg, tmp_path):
    """custom_imports is enough: the ticket drops into a project with no plugin tool."""
    import mmpretrain
    cfg, ticket = sparse_cfg
    script = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    # (num_workers=0 in this tiny config, which mmpretrain's persistent workers refuse)
    run_tool(script, str(cfg), '--work-dir', str(tmp_path / 'w'), '--no-persistent-workers')
    assert_ticket_zeros(tmp_path / 'w/epoch_1.pth', ticket)
