"""Every pattern-list option (include, exclude, keep_dense, dense, prefixes, rewind_keys) reads a bare
string as one pattern, the same way everywhere, and refuses None or non-strings naming the option. A bare
string used to become a tuple of its characters, whose '*' matched every layer."""
import pytest
import torch
from mmpretrain.models.backbones import ResNet

import ltcv_mm  # noqa: F401
from ltcv_mm.core import (
    TicketBindingError,
    attach_ticket,
    pattern_list,
    prune,
    save_ticket,
    select_model_prunable,
    select_prunable,
)
from ltcv_mm.core.rewind import RewindPoint
from ltcv_mm.hooks import IMPHook, MaskApplyHook

from tiny_runs import NARROW_R50


@pytest.fixture(scope='module')
def r50():
    torch.manual_seed(0)
    return dict(ResNet(**NARROW_R50).named_parameters())


def test_include_and_exclude_as_one_string_select_what_the_one_element_list_does(r50):
    assert set(select_prunable(r50, include='layer4*')) == set(select_prunable(r50, include=['layer4*']))
    assert len(select_prunable(r50, include='layer4*')) == 10  # layer4's convs, not all 52
    assert set(select_prunable(r50, exclude='layer1*')) == set(select_prunable(r50, exclude=['layer1*']))
    heads = {'neck.conv.weight': torch.zeros(4, 4, 1, 1), 'head.fc_cls.weight': torch.zeros(3, 4)}
    assert set(select_model_prunable(heads, keep_dense='*fc_cls*')) == {'neck.conv.weight'}


@pytest.mark.parametrize('make, option', [
    (lambda v: IMPHook(rounds=1, include=v), 'IMPHook include'),
    (lambda v: IMPHook(rounds=1, exclude=v), 'IMPHook exclude'),
    (lambda v: IMPHook(rounds=1, keep_dense=v), 'IMPHook keep_dense'),
    (lambda v: RewindPoint('pt', 0, v), 'rewind_keys'),
    (lambda v: select_prunable({}, include=v), 'include'),
])
def test_every_option_reads_a_string_as_one_pattern_and_refuses_none(make, option):
    make('layer4*')  # accepted
    with pytest.raises(ValueError, match=f'{option}: expected a list of name patterns, got None'):
        make(None)
    with pytest.raises(ValueError, match=f'{option}: every pattern must be a string, got 3'):
        make(['layer4*', 3])


def test_hooks_and_rewind_keep_the_string_whole():
    assert IMPHook(rounds=1, include='layer4*').include == ('layer4*',)
    assert IMPHook(rounds=1, keep_dense='*.fc_cls.*').keep_dense == ('*.fc_cls.*',)
    hook = MaskApplyHook(dense='layer1.*', prefixes='backbone.')
    assert hook.dense == ['layer1.*'] and hook.prefixes == ['backbone.']
    assert RewindPoint('pt', 0, 'backbone.*').keys == ('backbone.*',)
    assert pattern_list(None, 'prefixes', allow_none=True) is None


def test_a_resnet50_ticket_still_refuses_a_resnet101_with_one_dense_string(r50, tmp_path):
    """The reported fault: dense='layer1.*' switched the coverage check off and 51 layers trained dense."""
    ticket = prune(select_prunable(r50), rounds=1)
    r101 = ResNet(**dict(NARROW_R50, depth=101))
    with pytest.raises(TicketBindingError, match='would train dense'):
        attach_ticket(r101, ticket, dense='layer1.*')
    path = save_ticket(ticket, tmp_path / 't.safetensors')
    from mmengine.registry import MODELS
    with pytest.raises(TicketBindingError, match='would train dense'):
        MODELS.build(dict(type='ltcv.SparseBackbone', ticket=str(path), dense='layer1.*',
                          backbone=dict(type='mmpretrain.ResNet', **dict(NARROW_R50, depth=101))))
    masks = attach_ticket(ResNet(**NARROW_R50), ticket, prefixes='')  # one prefix, not its characters
    assert len(masks.names) == len(ticket.masks)


@pytest.mark.parametrize('option, value, message', [
    ('test_at_best', 'no', 'test_at_best must be True or False'),
    ('restart_optimizer', 'no', 'restart_optimizer must be True or False'),
    ('prune_first', 1, 'prune_first must be True or False'),
    ('metric', 3, 'metric must be a string'),
    ('save_dir', 3, 'save_dir must be a string'),
    ('seed', 2 ** 70, r'seed must be in \[0, 2\*\*63\)'),
    ('rounds', '2', 'rounds must be a whole number'),
])
def test_imp_hook_refuses_an_option_of_the_wrong_kind_before_training(option, value, message):
    """Options that used to be taken as something else ('no' as True) or to fail after round 0 trained."""
    from ltcv_mm.hooks import IMPConfigError
    with pytest.raises(IMPConfigError, match=f'IMPHook: {message}'):
        IMPHook(**{'rounds': 1, option: value})
