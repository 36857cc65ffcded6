"""The repository's contributor checks: ruff (pyflakes, pycodestyle, isort; ruff.toml), and a docstring
on every hook point the plugin's hooks implement."""
import subprocess
import sys

from mmengine.hooks import Hook

import ltcv_mm  # noqa: F401
from ltcv_mm.registry import HOOKS

from helpers import ROOT


def test_ruff_passes_on_the_whole_repository():
    proc = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '.'], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_hook_point_of_the_plugins_hooks_has_a_docstring():
    hooks = [cls for cls in HOOKS.module_dict.values() if issubclass(cls, Hook)]
    assert {'IMPHook', 'MaskApplyHook', 'TotalBatchHook'} <= {h.__name__ for h in hooks}
    missing = [f'{cls.__name__}.{name}' for cls in hooks for name in Hook.stages
               if name in vars(cls) and not (vars(cls)[name].__doc__ or "").strip()]
    assert missing == []
