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


def _package_imports():
    """(importing folder, imported folder) of every import between the package's top-level folders."""
    pkg = ROOT / 'ltcv_mm'
    for path in sorted(pkg.rglob('*.py')):
        here = path.relative_to(pkg).parts
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:  # relative: resolve against the file's package
                base = list(here[:-1])[:len(here) - node.level]
                target = base + (node.module.split('.') if node.module else [])
            elif node.module and node.module.startswith('ltcv_mm.'):
                target = node.module.split('.')[1:]
            else:
                continue
            if len(here) > 1 and target and target[0] != here[0] and (pkg / target[0]).is_dir():
                yield here[0], target[0]


def test_no_two_folders_of_the_package_import_each_other():
    edges = set(_package_imports())
    both_ways = sorted((a, b) for a, b in edges if (b, a) in edges)
    assert both_ways == [], both_ways
    assert ('core', 'hooks') not in edges and not any(a == 'core' for a, _ in edges)  # core depends on nothing


def test_no_module_of_the_package_is_over_400_lines():
    long = {p.relative_to(ROOT).as_posix(): n for p in (ROOT / 'ltcv_mm').rglob('*.py')
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
