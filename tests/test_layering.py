"""ltcv_mm/core is plain PyTorch: no OpenMMLab import anywhere inside it."""
import ast
import subprocess
import sys

from helpers import ROOT

OPENMMLAB = ('mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'mmseg', 'mmselfsup')


def test_core_imports_no_openmmlab():
    offenders = []
    for path in sorted((ROOT / 'ltcv_mm/core').rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f'{path.name}: {n}' for n in names if n.split('.')[0] in OPENMMLAB]
    assert not offenders


def test_core_runs_without_openmmlab_loaded():
    """Load the core modules alone (bypassing the package's registration) and use them."""
    code = (
        'import sys, types, torch\n'
        f'pkg = types.ModuleType("ltcv_mm"); pkg.__path__ = [{str(ROOT / "ltcv_mm")!r}]\n'
        'sys.modules["ltcv_mm"] = pkg\n'
        'from ltcv_mm.core import prune, Ticket\n'
        't = prune({"layer1.0.conv1.weight": torch.randn(8, 8, 3, 3)}, rounds=2)\n'
        'assert abs(t.density - 0.64) < 0.01\n'
        'assert not [m for m in sys.modules if m.split(".")[0] in %r], "OpenMMLab imported"\n'
        % (OPENMMLAB,))
    subprocess.run([sys.executable, '-c', code], check=True)
