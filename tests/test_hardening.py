"""Faults a hostile user hits: no silent wrong ticket, no run that can never finish, no run killed for good."""
import json
import re
import signal

import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import Ticket, TicketBindingError, attach_ticket, load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.core.imp_record import RunRecord
from ltcv_mm.hooks import IMPConfigError

from helpers import ROOT, checkout_env, run_tool
from probes import NaNMetric  # noqa: F401  (registers the metric)
from tiny_runs import NARROW_R50 as NARROW
from tiny_runs import tiny_classifier_cfg, write_colour_folder


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
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data')


@pytest.fixture(scope='module')
def r50_narrow(tmp_path_factory):
    """A ticket of the tiny classifier's narrow ResNet-50, as a file named r50.safetensors."""
    from mmpretrain.models.backbones import ResNet
    return save_ticket(_ticket(ResNet(**NARROW)), tmp_path_factory.mktemp('t') / 'r50.safetensors')


def test_a_deeper_model_in_a_runner_fails_before_training(data, r50_narrow, tmp_path):
    path = r50_narrow
    cfg = tiny_classifier_cfg(tmp_path / 'work', data)
    cfg['model']['backbone']['depth'] = 101
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(path))]
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(TicketBindingError, match=r'r50.safetensors.*resnet50-w8.*resnet101-w8'):
        runner.train()
    assert runner.iter == 0
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', wraps='ResNet', ticket=str(path), **NARROW)
    cfg['model']['backbone']['depth'] = 101
    with pytest.raises(TicketBindingError, match='the ticket is for resnet50-w8'):
        Runner.from_cfg(Config(cfg))


def test_imp_with_include_patterns_leaves_the_other_layers_dense(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', interval=1, rounds=1, include=['layer4.*'])]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    ticket = load_ticket(tmp_path / 'work/tickets/ticket_round01.safetensors')
    assert set(ticket.masks) == {n for n in select_prunable(dict(runner.model.named_parameters()))
                                 if n.startswith('layer4.')}


def test_a_nan_metric_is_recorded_as_missing_and_the_run_goes_on(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['val_evaluator'] = dict(type='NaNMetric')
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', interval=1, rounds=2)]
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
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', target_sparsity=0.99999, rate=0.1)]
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
    (dict(rounds=2, rewind='pt_trns'), r"IMPHook: rewind: unknown mode 'pt_trns'"),
    (dict(rounds=2, rewind='lt', rewind_at=-1), r'IMPHook: rewind_at must be a whole number >= 0, got -1'),
    (dict(rounds=2, strategy='magnitude'), r"IMPHook: unknown pruning strategy 'magnitude'"),
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


@pytest.mark.parametrize('content, message', [
    ('[]', 'no list of records'), ('null', 'no list of records'),
    ('{"records": [1, 2]}', 'record 0 is not an IMP round record'),
    ('{"records": [{}]}', 'record 0 is not an IMP round record'),
    ('{"records": [{"round": 0, "sparsity": 0.0, "metric_name": "acc", "metrics": {"acc": null}}]}',
     'the dense round 0 has no acc'),
    ('{"records": [{"round": 0, "sparsity": 0.0, "metric_name": null, "metrics": {}, "train_loss": null}]}',
     'the dense round 0 has no train loss'),
])
def test_analyze_imp_names_a_malformed_summary(tmp_path, content, message):
    (tmp_path / 'imp_summary.json').write_text(content)
    proc = run_tool('tools/analyze_imp.py', str(tmp_path), check=False)
    assert proc.returncode == 1 and message in proc.stderr and 'imp_summary.json' in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


def test_analyze_imp_reads_missing_rounds_and_refuses_a_nan_tolerance(tmp_path):
    records = [dict(round=k, sparsity=1 - 0.8 ** k, metric_name='acc', metrics={'acc': v}, ticket=None)
               for k, v in enumerate([70.0, None, 69.9])]
    (tmp_path / 'imp_summary.json').write_text(json.dumps({'records': records}))
    out = run_tool('tools/analyze_imp.py', str(tmp_path), '--tolerance', '0.5').stdout
    assert 'n/a (null)  no' in out and 'highest sparsity matching dense: 36.00 %' in out
    proc = run_tool('tools/analyze_imp.py', str(tmp_path), '--tolerance', 'nan', check=False)
    assert proc.returncode == 2 and "must be a finite number >= 0, got 'nan'" in proc.stderr


def test_overlap_of_different_architectures_names_the_file_before_printing(tmp_path):
    a = save_ticket(_ticket(torchvision.models.resnet18()), tmp_path / 'r18.safetensors')
    b = save_ticket(_ticket(torchvision.models.resnet50()), tmp_path / 'r50.safetensors')
    proc = run_tool('tools/ticket.py', 'overlap', str(a), str(b), check=False)
    assert proc.returncode == 1 and 'r50.safetensors: its layers differ from those of' in proc.stderr
    assert proc.stdout == ''


# -- tools/ticket.py and the files it writes --------------------------------------------------------------
@pytest.fixture(scope='module')
def r18_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('w') / 'r18.pth'
    torch.save({'state_dict': torchvision.models.resnet18().state_dict()}, path)
    return path


def _tool(*args, **kw):
    return run_tool('tools/ticket.py', *map(str, args), **kw)


def test_useless_and_unrankable_tickets_are_reported(r18_file, tmp_path):
    proc = _tool('prune', r18_file, '--rounds', '200', '-o', tmp_path / 'a.safetensors')
    assert 'layers are pruned completely' in proc.stderr and 'no signal passes through them' in proc.stderr
    assert 'warning: prune: rounds=200, but after' in proc.stderr  # the no-op rounds beyond are not run
    proc = _tool('prune', r18_file, '--strategy', 'random_like', '--rate', '0', '-o', tmp_path / 'r.safetensors',
                 check=False)
    assert proc.returncode == 1 and 'give it with --start' in proc.stderr and not (tmp_path / 'r.safetensors').exists()
    state = torch.load(r18_file, weights_only=True)['state_dict']
    zero = {k: torch.zeros_like(v) if k.startswith('layer1.') and v.dim() == 4 else v for k, v in state.items()}
    torch.save({'state_dict': zero}, tmp_path / 'zero.pth')
    proc = _tool('prune', tmp_path / 'zero.pth', '-o', tmp_path / 'z.safetensors')
    assert "the weights of 4 layers are all exactly zero (first 'layer1.0.conv1.weight')" in proc.stderr
    for value, kind in ((float('inf'), 'infinite values'), (float('nan'), 'NaN')):
        bad = dict(state)
        bad['layer2.0.conv1.weight'] = bad['layer2.0.conv1.weight'].clone()
        bad['layer2.0.conv1.weight'][0, 0, 0, 0] = value
        torch.save({'state_dict': bad}, tmp_path / 'bad.pth')
        proc = _tool('prune', tmp_path / 'bad.pth', '-o', tmp_path / 'b.safetensors', check=False)
        assert proc.returncode == 1 and f"layer 'layer2.0.conv1.weight': weights contain {kind}" in proc.stderr


def test_provenance_of_converted_checkpoints_and_random_like(r18_file, tmp_path):
    import layouts
    torch.save(layouts.moco_official_ckpt(), tmp_path / 'moco.pth.tar')
    run_tool('tools/convert_pretrained.py', str(tmp_path / 'moco.pth.tar'), str(tmp_path / 'moco_r50.pth'))
    _tool('prune', tmp_path / 'moco_r50.pth', '-o', tmp_path / 'm.safetensors')
    assert load_ticket(tmp_path / 'm.safetensors').meta['source'] == 'moco'  # not re-detected from the copy
    proc = _tool('prune', r18_file, '--strategy', 'random_like', '--reference', tmp_path / 'm.safetensors',
                 '-o', tmp_path / 'r.safetensors', check=False)
    assert proc.returncode == 1 and 'm.safetensors is a ticket for resnet50, but' in proc.stderr
    assert 'r18.pth holds a resnet18' in proc.stderr and not (tmp_path / 'r.safetensors').exists()


def test_seed_import_refuses_what_is_no_resnet_ticket():
    from ltcv_mm.core import SeedFormatError, ticket_from_seed, ticket_to_seed
    good = ticket_to_seed(_ticket(torchvision.models.resnet18()))
    with pytest.raises(SeedFormatError, match=r"'bn1.weight_mask' of shape \(64,\) is not a conv kernel"):
        ticket_from_seed({**good, 'bn1.weight_mask': torch.ones(64)}, where='seed.pth')
    wrong = dict(good)
    wrong['layer1.0.conv1.weight_mask'] = torch.ones(64, 64, 1, 1)
    with pytest.raises(SeedFormatError, match=r"seed.pth: mask 'layer1.0.conv1.weight' has shape \(64, 64, 1, 1\), "
                                              r"but a resnet18 conv there has \(64, 64, 3, 3\)"):
        ticket_from_seed(wrong, where='seed.pth')
    with pytest.raises(SeedFormatError, match=r"do not form a ResNet \(read as 'resnet-1"):
        ticket_from_seed({'layer1.0.conv1.weight_mask': torch.ones(64, 64, 3, 3)}, where='seed.pth')
    holed = {k: v for k, v in good.items() if k != 'layer2.1.conv2.weight_mask'}  # was read as a resnet18 ticket
    with pytest.raises(SeedFormatError, match=r"seed.pth: 1 convs of a resnet18 have no mask, first "
                                              r"'layer2.1.conv2.weight'"):
        ticket_from_seed(holed, where='seed.pth')
    no_stem = {k: v for k, v in ticket_to_seed(prune(select_prunable(dict(torchvision.models.resnet18()
               .named_parameters()), exclude=[]), rounds=1)).items() if k != 'conv1.weight_mask'}
    assert ticket_from_seed(no_stem).meta['arch'] == 'resnet18'  # the seed code may leave the stem out


@pytest.mark.parametrize('model, include, arch', [
    (torchvision.models.resnet18, ['layer3.*', 'layer4.*'], 'resnet18 (layer3, layer4 only)'),
    (torchvision.models.resnet50, ['layer4.*'], 'resnet50/101/152 (layer4 only)')])
def test_a_partial_ticket_is_named_for_the_resnets_it_can_come_from(model, include, arch):
    """Was 'resnet-2-2' / 'resnet-3' in every message about such a ticket."""
    from ltcv_mm.core import infer_arch
    ticket = _ticket(model(), include=include)
    assert infer_arch(ticket.shapes) == arch
    with pytest.raises(TicketBindingError, match=re.escape(arch)):  # the name its errors give
        attach_ticket(torchvision.models.resnet34(), ticket)


def test_writes_name_the_target_follow_links_and_clean_up_after_killed_writers(tmp_path):
    import os
    import resource
    import subprocess
    import sys

    from ltcv_mm.core import atomic_write_bytes
    target = tmp_path / 'real.bin'
    target.write_bytes(b'old')
    (tmp_path / 'link.bin').symlink_to(target)
    atomic_write_bytes(tmp_path / 'link.bin', b'new')
    assert (tmp_path / 'link.bin').is_symlink() and target.read_bytes() == b'new'
    with pytest.raises(IsADirectoryError, match=f'cannot write {tmp_path}: it is a folder'):
        atomic_write_bytes(tmp_path, b'x')
    dead = tmp_path / '.real.bin.999999999.abc.tmp'  # no such process
    mine = tmp_path / f'.real.bin.{os.getpid()}.def.tmp'  # a writer still at work
    dead.write_bytes(b'half')
    mine.write_bytes(b'half')
    atomic_write_bytes(target, b'newer')
    assert not dead.exists() and mine.exists()

    def small_files():  # a full disk, as the kernel reports a file-size limit
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    ticket = save_ticket(_ticket(torchvision.models.resnet18()), tmp_path / 'small.safetensors')
    proc = subprocess.run([sys.executable, str(ROOT / 'tools/ticket.py'), 'export', str(ticket), '-o',
                           str(tmp_path / 'big.pth')], capture_output=True, text=True, env=checkout_env(),
                          preexec_fn=small_files)
    assert proc.returncode == 1 and f'cannot write {tmp_path / "big.pth"}: File too large' in proc.stderr, proc.stderr
    assert not list(tmp_path.glob('.big.pth.*.tmp'))


def test_killed_prune_leaves_the_target_valid_and_no_temporary_behind(r18_file, tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / 't.safetensors'
    for delay in (0.6, 0.9, 1.2, 1.5, 1.8, 2.1):
        proc = subprocess.Popen([sys.executable, str(ROOT / 'tools/ticket.py'), 'prune', str(r18_file), '--rounds',
                                 '3', '--force', '-o', str(out)], env=checkout_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        if out.exists():
            load_ticket(out)  # whole, or not there: never half
    _tool('prune', r18_file, '--rounds', '3', '--force', '-o', out)
    assert load_ticket(out).kept > 0 and not list(tmp_path.glob('.*.tmp'))


def test_resuming_under_a_deeper_model_fails_with_the_plugins_message(data, r50_narrow, tmp_path):
    path = r50_narrow
    cfg = tiny_classifier_cfg(tmp_path / 'work', data)
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(path))]
    Runner.from_cfg(Config(cfg)).train()
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook')]
    cfg['model']['backbone']['depth'] = 101
    cfg['train_cfg']['max_epochs'] = 2
    cfg['resume'] = True
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(TicketBindingError, match=r"ticket of the checkpoint loaded.*resnet50-w8.*resnet101-w8"):
        runner.train()


def test_several_optimizers_keep_every_pruned_weight_and_its_momentum_at_zero(data, r50_narrow, tmp_path):
    """An OptimWrapperDict whose backbone optimizer comes second: masking must not follow the first alone."""
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
    from mmpretrain.models import ImageClassifier

    from ltcv_mm.hooks.runner_access import find_hook

    from probes import ZeroProbe

    @ROOT_MODELS.register_module(force=True)
    class HeadThenBackboneClassifier(ImageClassifier):
        def train_step(self, data, optim_wrapper):
            data = self.data_preprocessor(data, True)
            loss, log_vars = self.parse_losses(self._run_forward(data, mode='loss'))
            optim_wrapper['head'].backward(loss)
            for name in ('head', 'backbone'):
                optim_wrapper[name].step()
                optim_wrapper[name].zero_grad()
            return log_vars

    @OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
    class HeadThenBackbone:
        def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
            pass

        def __call__(self, model):
            return OptimWrapperDict(**{part: OptimWrapper(torch.optim.SGD(
                getattr(model, part).parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3))
                for part in ('head', 'backbone')})

    path = r50_narrow
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=2)
    cfg['model']['type'] = 'HeadThenBackboneClassifier'
    cfg['optim_wrapper'] = dict(constructor='HeadThenBackbone')
    cfg['param_scheduler'] = []
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(path)), dict(type='ZeroProbe')]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    assert len(find_hook(runner, ZeroProbe).nonzero) == 4 and set(find_hook(runner, ZeroProbe).nonzero) == {0}
    masks = runner.model.ltcv_masks
    opt = runner.optim_wrapper['backbone'].optimizer
    for name, p, m in masks.pairs(runner.model):
        buf = opt.state[p]['momentum_buffer']
        assert int((buf[m == 0] != 0).sum()) == 0 and int((buf[m == 1] != 0).sum()) > 0, name


def test_a_metric_no_evaluator_reports_is_refused_before_training(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', interval=1, rounds=1, metric='nope')]
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(IMPConfigError, match=r"metric 'nope' cannot come from the validation evaluator, whose "
                                             r"metrics report 'accuracy/...'"):
        runner.train()
    assert runner.iter == 0


def _log_text(work) -> str:
    return '\n'.join(p.read_text() for p in sorted(work.rglob('*.log')))


def test_settings_that_would_silently_do_nothing_are_reported(data, tmp_path):
    """MaskApplyHook without any ticket trains dense; keep_dense matching no layer prunes the final ones:
    both said in the log, before training. mmpretrain's classifier head.fc is no ResNet's own fc: scope='model'
    prunes it when keep_dense lets it, and says it prunes nothing more than the backbone when not."""
    cfg = tiny_classifier_cfg(tmp_path / 'dense', data)
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook')]
    Runner.from_cfg(Config(cfg)).train()
    assert 'MaskApplyHook: no ticket (none given, none in the checkpoint loaded)' in _log_text(tmp_path / 'dense')
    cfg = tiny_classifier_cfg(tmp_path / 'imp', data)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=1, scope='model', keep_dense=['*.no_such_layer.*'])]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    assert "keep_dense ['*.no_such_layer.*'] matches no parameter of the model" in _log_text(tmp_path / 'imp')
    ticket = load_ticket(RunRecord.of_work_dir(tmp_path / 'imp').read().last_ticket)
    fc = runner.model.head.fc.weight.detach()
    assert ticket.masks['head.fc.weight'].shape == fc.shape and 'fc.weight' not in ticket.masks
    assert not ticket.masks['head.fc.weight'].all() and not fc[~ticket.masks['head.fc.weight']].any()
    cfg = tiny_classifier_cfg(tmp_path / 'imp_kept', data)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=1, scope='model')]
    Runner.from_cfg(Config(cfg)).train()
    assert ("scope='model' prunes nothing outside the backbone: its only conv or linear layers there are kept "
            "dense by keep_dense (head.fc.weight)") in _log_text(tmp_path / 'imp_kept')
