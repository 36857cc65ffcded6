"""Every paper config launched on 1, 4 and 8 GPUs trains the authors' total batch, lr and samples, or is
refused before training with what to run instead; and the launch itself, through tools/dist_train.sh on
two gloo processes and through mmpretrain's own train script."""
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import convert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.registry import DATA_SAMPLERS, DefaultScope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

import ltcv_mm  # noqa: F401
from ltcv_mm.hooks.total_batch_hook import (
    LaunchError,
    TotalBatchHook,
    batch_norm_layers,
    check_bn_batch,
    launch_world_size,
    split_total_batch,
)
from ltcv_mm.models import stock_backbone_cfg

from helpers import ROOT, checkout_env, free_port, run_tool
from seed_recipe_card import CARD, TRAIN_IMAGES

PAPER = ROOT / 'configs/paper'
GPUS = (1, 4, 8)


def _runner_lr(cfg: Config, world_size: int) -> float:
    """The base lr after mmengine's own ``Runner.scale_lr`` under this launch."""
    wrapper = OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                           lr=cfg.optim_wrapper.optimizer.lr))
    runner = SimpleNamespace(world_size=world_size, _train_dataloader=cfg.train_dataloader,
                             logger=MMLogger.get_current_instance(), param_schedulers=None)
    Runner.scale_lr(runner, wrapper, cfg.get('auto_scale_lr'))
    return wrapper.param_groups[0]['lr']


def _steps_per_epoch(cfg: Config, world_size: int, images: int) -> tuple[int, int]:
    """Optimizer steps and samples of one epoch on each of ``world_size`` ranks, with the config's own
    sampler (mmengine's DefaultSampler pads ranks to equal length) and batch sampler, if any."""
    loader = cfg.train_dataloader
    dataset = range(images)
    with mock.patch('mmengine.dataset.sampler.get_dist_info', return_value=(0, world_size)), \
            DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        sampler = DATA_SAMPLERS.build(dict(loader.sampler, dataset=dataset))
        if loader.get('batch_sampler'):
            batches = DATA_SAMPLERS.build(dict(loader.batch_sampler, sampler=sampler, batch_size=loader.batch_size))
            steps = len(batches)
        else:
            steps = len(DataLoader(dataset, batch_size=loader.batch_size, sampler=sampler,
                                   drop_last=loader.get('drop_last', False)))
    samples = world_size * (steps * loader.batch_size if loader.get('drop_last', False) else len(sampler))
    return steps, samples


def _authors_steps(card: dict, images: int) -> tuple[int, int]:
    """One epoch as the authors ran it: one process, a plain DataLoader of the total batch."""
    total = card['total_batch']
    steps = images // total if card['drop_last'] else -(-images // total)
    return steps, steps * total if card['drop_last'] else images


def _bn_layers_in_train_mode(cfg: Config) -> tuple[list[str], torch.nn.Module]:
    """The backbone's BatchNorm layers that take batch statistics in training (the ticket's inner
    backbone when it is a SparseBackbone), built from the config."""
    backbone = dict(cfg.model.backbone)
    if backbone['type'] == 'ltcv.SparseBackbone':
        backbone = stock_backbone_cfg(backbone)
    backbone.pop('init_cfg', None)
    import mmdet.models  # noqa: F401  (registers the packages' backbones)
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmengine.registry import MODELS
    scope = backbone['type'].split('.')[0] if '.' in backbone['type'] else cfg.get('default_scope', 'mmengine')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(dict(backbone, type=backbone['type'].split('.')[-1]))
    model.train()  # (mmdet's and mmseg's ResNet.train return None)
    return batch_norm_layers(model), model


@pytest.mark.parametrize('rel', sorted(CARD))
def test_paper_config_on_1_4_and_8_gpus_trains_the_authors_total_batch_lr_and_samples(rel):
    card = CARD[rel]
    total = card['total_batch']
    for gpus in GPUS:
        cfg = Config.fromfile(str(PAPER / rel))
        if total % gpus:
            with pytest.raises(LaunchError, match=rf'total batch of {total} images cannot be split evenly over '
                                                  rf'{gpus} GPUs; launch it on 1, 2(, 4)? GPU'):
                split_total_batch(cfg, gpus, rel)
            continue
        share = split_total_batch(cfg, gpus, rel)
        assert share * gpus == total, (rel, gpus)  # images a forward pass (accumulation is the card's)
        assert _runner_lr(cfg, gpus) == pytest.approx(card['lr'], rel=1e-12), (rel, gpus)
        if 'iterations' in card or 'state_iterations' in card:  # iteration-based: a step is a step
            assert cfg.train_cfg.max_iters * share * gpus == card.get('iterations', card.get('state_iterations')) \
                * total
        else:
            images = TRAIN_IMAGES[rel]
            steps, samples = _steps_per_epoch(cfg, gpus, images)
            seed_steps, seed_samples = _authors_steps(card, images)
            assert steps == seed_steps, (rel, gpus)
            assert 0 <= samples - seed_samples < gpus, (rel, gpus)  # padding: ranks of equal length
        if share < min(total, 16):  # BatchNorm over fewer images than the authors' (TotalBatchHook's rule)
            bn, model = _bn_layers_in_train_mode(cfg)
            with pytest.raises(LaunchError, match=rf'sync_bn=torch .* or launch on {total // min(total, 16)} GPU'):
                check_bn_batch(share, total, bn, TotalBatchHook().min_bn_batch, rel)
            # what Runner.wrap_model does under sync_bn='torch': the same launch is then accepted
            synced = convert_sync_batchnorm(model, 'torch')
            assert bn and not batch_norm_layers(synced)
            check_bn_batch(share, total, batch_norm_layers(synced), TotalBatchHook().min_bn_batch, rel)


def test_every_paper_config_keeps_its_total_batch():
    for path in PAPER.rglob('*.py'):
        if '_base_' not in path.parts:
            cfg = Config.fromfile(str(path))
            assert cfg.default_hooks.total_batch == dict(type='ltcv.TotalBatchHook'), path


# -- the launch, for real -------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def recipe(tmp_path_factory):
    """A tiny classifier whose recipe trains 8 images a step (written as 1 GPU x 8), with the hook."""
    from tiny_runs import tiny_classifier_cfg, write_colour_folder
    root = tmp_path_factory.mktemp('launch')
    write_colour_folder(root / 'data', per_class=8)
    cfg = tiny_classifier_cfg(root / 'unused', root / 'data', max_epochs=1)
    for key in ('work_dir', 'experiment_name'):
        cfg.pop(key)
    cfg['custom_imports'] = dict(imports=['ltcv_mm'])
    cfg['train_dataloader'].update(batch_size=8, drop_last=True)
    cfg['auto_scale_lr'] = dict(base_batch_size=8, enable=True)
    cfg['default_hooks'] = dict(cfg.get('default_hooks', {}), total_batch=dict(type='ltcv.TotalBatchHook'),
                                logger=dict(type='LoggerHook', interval=1))
    cfg['log_level'] = 'INFO'
    path = root / 'recipe_1xb8.py'
    Config(cfg).dump(str(path))
    return path


def _dist_train(cfg: Path, work: Path, *options: str) -> subprocess.CompletedProcess:
    env = checkout_env(PORT=str(free_port()), OMP_NUM_THREADS='1',
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    return subprocess.run(['bash', str(ROOT / 'tools/dist_train.sh'), str(cfg), '2', '--work-dir', str(work),
                           *options], capture_output=True, text=True, env=env, timeout=600)


def test_dist_train_splits_the_total_batch_and_keeps_the_lr(recipe, tmp_path):
    proc = _dist_train(recipe, tmp_path / 'w', '--cfg-options', 'default_hooks.total_batch.min_bn_batch=4')
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "the recipe's total batch 8 = 2 GPU(s) x 4" in log
    assert 'LR is set based on batch size of 8 and the current batch size is 8. Scaling the original LR by 1.0' in log
    # 16 images: 8 a rank, 4 a step, 2 steps an epoch, as 1 GPU x 8 runs it
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', log), log[-3000:]
    assert (tmp_path / 'w/epoch_1.pth').exists()


def test_dist_train_refuses_batchnorm_over_too_few_images(recipe, tmp_path):
    proc = _dist_train(recipe, tmp_path / 'w')  # 4 images per GPU, where the recipe's BN sees 8
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'LaunchError' in log and 'would take their statistics over 4 image(s) per GPU' in log
    assert 'sync_bn=torch' in log and 'launch on 1 GPU(s) or fewer' in log
    assert not list((tmp_path / 'w').glob('*.pth'))  # refused before any step


def test_a_launcher_that_does_not_split_is_refused_with_the_command_to_run(recipe, tmp_path):
    """mmpretrain's own train script on a copy written as 1 GPU x 4: 4 images a step, not the recipe's 8."""
    import mmpretrain
    cfg = Config.fromfile(str(recipe))
    cfg.train_dataloader.batch_size = 4
    path = tmp_path / 'recipe_1xb4.py'
    cfg.dump(str(path))
    script = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    proc = run_tool(script, str(path), '--work-dir', str(tmp_path / 'w'), '--no-persistent-workers', check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'launched as 1 GPU(s) x 4 = 4 images a step; the recipe trains 8 in total' in log
    assert 'train_dataloader.batch_size=8' in log and 'default_hooks.total_batch.keep=False' in log
    assert not list((tmp_path / 'w').glob('*.pth'))
    # ltcv_mm's train.py splits it (1 x 8); a batch asked for on its command line is never replaced silently
    proc = run_tool(str(ROOT / 'tools/train.py'), str(path), '--work-dir', str(tmp_path / 'w2'), '--cfg-options',
                    'train_dataloader.batch_size=4', check=False)
    assert proc.returncode != 0 and 'launched as 1 GPU(s) x 4' in proc.stdout + proc.stderr
    run_tool(str(ROOT / 'tools/train.py'), str(path), '--work-dir', str(tmp_path / 'w3'))
    assert (tmp_path / 'w3/epoch_1.pth').exists()
    # dropping the hook trains another total batch on purpose, the lr scaled by auto_scale_lr
    proc = run_tool(str(ROOT / 'tools/train.py'), str(path), '--work-dir', str(tmp_path / 'w4'), '--cfg-options',
                    'default_hooks.total_batch.keep=False')
    assert 'current batch size is 4. Scaling the original LR by 0.5' in proc.stdout + proc.stderr


def test_bad_options_and_an_unknown_process_count_are_refused_by_name(monkeypatch):
    with pytest.raises(ValueError, match='keep must be True or False'):
        TotalBatchHook(keep='no')
    with pytest.raises(ValueError, match='min_bn_batch must be a positive int'):
        TotalBatchHook(min_bn_batch=0)
    monkeypatch.setenv('SLURM_NTASKS', '4')
    assert launch_world_size('slurm') == 4 and launch_world_size('none') == 1
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    with pytest.raises(LaunchError, match="launcher 'pytorch': none of WORLD_SIZE is set"):
        launch_world_size('pytorch')
    cfg = Config(dict(default_hooks=dict(total_batch=dict(type='ltcv.TotalBatchHook')),
                      auto_scale_lr=dict(enable=True), train_dataloader=dict(batch_size=2)))
    with pytest.raises(LaunchError, match=r'x\.py: .*auto_scale_lr\.base_batch_size, which is None'):
        split_total_batch(cfg, 1, 'x.py')
    cfg.default_hooks.total_batch.keep = False  # not kept: the config's batch stays
    assert split_total_batch(cfg, 4, 'x.py') is None and cfg.train_dataloader.batch_size == 2
