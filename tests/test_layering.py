"""ltcv_mm/core is plain PyTorch: no OpenMMLab import anywhere inside it."""
import ast
import subprocess
import sys

from helpers import ROOT

OPENMMLAB = ('mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'mmseg', 'mmselfsup')


def _imports(folder):
    """(file, top-level package) of every absolute import in the .py files under ``folder``."""
    for path in sorted(folder.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                yield path.relative_to(ROOT).as_posix(), n.split('.')[0]


def test_core_imports_no_openmmlab():
    assert [f'{f}: {n}' for f, n in _imports(ROOT / 'ltcv_mm/core') if n in OPENMMLAB] == []


def test_the_plugin_holds_no_demo():
    """The demo (digits from scikit-learn, scenes drawn with OpenCV) is an application beside the package.

    OpenCV is mmcv's own dependency; the one use in the package is the
    replacement of an mmcv function (compat/mmcv_hue.py).
    """
    found = [(f, n) for f, n in _imports(ROOT / 'ltcv_mm') if n in ('sklearn', 'cv2')]
    assert found == [('ltcv_mm/compat/mmcv_hue.py', 'cv2')]
    assert not (ROOT / 'ltcv_mm/demo').exists()


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
