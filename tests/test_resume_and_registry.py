"""`import ltcv_mm`: the `ltcv` scope, and mmengine resume under weights_only=True."""
import io
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.compat.safe_globals import mmengine_checkpoint_globals

from tiny_runs import tiny_classifier_cfg, write_colour_folder


def test_registries_live_under_the_ltcv_scope():
    from mmengine.registry import HOOKS, MODELS

    from ltcv_mm import registry
    assert registry.MODELS.scope == 'ltcv' and registry.HOOKS.scope == 'ltcv'
    assert MODELS.children['ltcv'] is registry.MODELS
    assert HOOKS.children['ltcv'] is registry.HOOKS


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    write_colour_folder(root / 'data')
    runner = Runner.from_cfg(Config(tiny_classifier_cfg(root / 'work', root / 'data', max_epochs=1)))
    runner.train()
    return root


def test_checkpoint_holds_only_the_allow_listed_types(trained):
    ckpt = trained / 'work' / 'epoch_1.pth'
    # Asked in a fresh interpreter without the plugin, where nothing is allow-listed yet.
    code = f'import torch; print(*torch.serialization.get_unsafe_globals_in_checkpoint({str(ckpt)!r}))'
    found = set(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                               check=True).stdout.split())
    names = set()
    for g in mmengine_checkpoint_globals():
        names.add(g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}')
    assert found and found <= names, found - names
    # Without the plugin, plain torch refuses the same file: this is what we fix.
    code = f'import torch; torch.load({str(ckpt)!r})'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode != 0 and 'Unsupported global' in proc.stderr


def test_runner_resumes_with_weights_only_load(trained, monkeypatch):
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    cfg = Config(tiny_classifier_cfg(trained / 'work', trained / 'data', max_epochs=2))
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2 and runner.iter == 4  # epoch 1 was not trained again
    lr = runner.message_hub.get_scalar('train/lr')
    assert lr.data[0].shape == (4,)  # the history of the first run came back with the resume


class _ReachesGlobals:
    """Pickles as getattr(HistoryBuffer.__init__, '__globals__'): a step towards running code."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer.__init__, '__globals__'))


class _ReachesNumpy:
    def __reduce__(self):
        import numpy
        return (getattr, (numpy.ndarray, 'tofile'))


class _Unknown:
    pass


@pytest.mark.parametrize('obj, message', [(_ReachesGlobals(), 'getattr'), (_ReachesNumpy(), 'getattr'),
                                          (_Unknown(), 'Unsupported global')])
def test_other_code_in_a_checkpoint_is_still_refused(obj, message):
    buf = io.BytesIO()
    torch.save({'x': obj}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=message):
        torch.load(buf, weights_only=True)
