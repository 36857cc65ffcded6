"""Faults a hostile user hits: no silent wrong ticket, no run that can never finish, no run killed for good."""
import json
import signal

import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import Ticket, TicketBindingError, attach_ticket, load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.hooks import IMPConfigError
from probes import NaNMetric  # noqa: F401  (registers the metric)
from tiny_data import tiny_classifier_cfg, write_image_folder

IMP_HOOKS = [dict(type='ltcv.MaskApplyHook'), dict(type='ltcv.RewindHook', mode='pt')]


def _ticket(model, **kw) -> Ticket:
    return prune(select_prunable(dict(model.named_parameters()), **kw), rounds=2)


@pytest.mark.parametrize('small, deep, names', [
    (torchvision.models.resnet50, torchvision.models.resnet101, ('resnet50', 'resnet101')),
    (torchvision.models.resnet18, torchvision.models.resnet34, ('resnet18', 'resnet34'))])
def test_a_ticket_never_binds_silently_to_a_deeper_resnet(small, deep, names):
    """Every layer of the shallower ticket fits the deeper model shape for shape; the rest would train dense."""
    ticket = _ticket(small())
    with pytest.raises(TicketBindingError, match=rf'the ticket is for {names[0]}, the model is a {names[1]}'):
        attach_ticket(deep(), ticket)


def test_layers_left_dense_must_be_named():
    model = torchvision.models.resnet18()
    partial = _ticket(model, include=['layer3.*', 'layer4.*'])
    with pytest.raises(TicketBindingError, match=r"9 of the 19 prunable layers of the model are not in the "
                                                 r"ticket \(first 'layer1.0.conv1.weight'\).*dense=\['layer1"):
        attach_ticket(model, partial)
    masks = attach_ticket(model, partial, dense=['layer1.*', 'layer2.*'])
    assert masks.count_nonzero_pruned(model) == 0 and len(masks) == 10


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp('imgs') / 'data')


def test_a_deeper_model_in_a_runner_fails_before_training(data, tmp_path):
    narrow = dict(depth=50, stem_channels=8, base_channels=8, out_indices=(3,))
    from mmpretrain.models.backbones import ResNet
    path = save_ticket(_ticket(ResNet(**narrow)), tmp_path / 'r50.safetensors')
    cfg = tiny_classifier_cfg(tmp_path / 'work', data)
    cfg['model']['backbone']['depth'] = 101
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(path))]
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(TicketBindingError, match=r'r50.safetensors.*resnet50-w8.*resnet101-w8'):
        runner.train()
    assert runner.iter == 0
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', wraps='ResNet', ticket=str(path), **narrow,)
    cfg['model']['backbone']['depth'] = 101
    with pytest.raises(TicketBindingError, match='the ticket is for resnet50-w8'):
        Runner.from_cfg(Config(cfg))


def test_imp_with_include_patterns_leaves_the_other_layers_dense(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['custom_hooks'] = IMP_HOOKS + [dict(type='ltcv.IMPHook', interval=1, rounds=1, include=['layer4.*'])]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    ticket = load_ticket(tmp_path / 'work/tickets/ticket_round01.safetensors')
    assert set(ticket.masks) == {n for n in select_prunable(dict(runner.model.named_parameters()))
                                 if n.startswith('layer4.')}


def test_a_nan_metric_is_recorded_as_missing_and_the_run_goes_on(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['val_evaluator'] = dict(type='NaNMetric')
    cfg['custom_hooks'] = IMP_HOOKS + [dict(type='ltcv.IMPHook', interval=1, rounds=2)]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    assert runner.epoch == 3

    def refuse(constant):
        raise ValueError(f'not JSON: {constant}')
    text = (tmp_path / 'work/tickets/imp_summary.json').read_text()
    records = json.loads(text, parse_constant=refuse)['records']  # strict JSON: no bare NaN
    assert [r['metric'] for r in records] == [None, None, None]
    assert all(r['metrics'] == {'score': None} for r in records)
    assert load_ticket(tmp_path / 'work/tickets/ticket_round02.safetensors').meta['metric'] is None


def test_an_unreachable_target_sparsity_is_refused_with_the_reachable_one(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data)
    cfg['custom_hooks'] = IMP_HOOKS + [dict(type='ltcv.IMPHook', target_sparsity=0.99999, rate=0.1)]
    runner = Runner.from_cfg(Config(cfg))

    def hung(*_):
        raise AssertionError('IMPHook hung computing the run length')
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        with pytest.raises(IMPConfigError, match=r'target_sparsity 0.99999 cannot be reached at rate 0.1: once 5 of '
                                                 r'the 366,336 weights are left.*highest reachable sparsity is '
                                                 r'99.998635% \(after 105 rounds\)'):
            runner.train()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert runner.iter == 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(rounds=2.5), r'rounds must be a whole number, got 2.5'),
    (dict(interval='2'), r"interval must be a whole number, got '2'"),
    (dict(target_sparsity='0.5'), r"target_sparsity must be a number, got '0.5' \(str\)"),
    (dict(rounds=2, rate='0.2'), r"rate must be a number, got '0.2' \(str\)"),
])
def test_imp_arguments_of_the_wrong_kind_are_named(kwargs, message):
    from ltcv_mm.hooks import IMPHook
    with pytest.raises(IMPConfigError, match=message):
        IMPHook(**kwargs)


def test_sparse_backbone_seed_of_the_wrong_kind_is_named(tmp_path):
    from mmengine.registry import DefaultScope

    from ltcv_mm.registry import MODELS
    path = save_ticket(_ticket(torchvision.models.resnet50()), tmp_path / 't.safetensors')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        with pytest.raises(ValueError, match="seed must be a whole number, got 'abc'"):
            MODELS.build(dict(type='ltcv.SparseBackbone', wraps='ResNet', depth=50, ticket=str(path),
                              mode='random', seed='abc'))
