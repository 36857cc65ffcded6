"""The demo pins oneDNN's and MKL's CPU kernels before torch loads, keeping what the user set."""
import subprocess
import sys

import pytest

from demo import cpu_kernels

from helpers import ROOT

SHOW = ('import sys; sys.path.insert(0, {root!r}); from demo import cpu_kernels; print(cpu_kernels.pin()); '
        'import torch, os; print(os.environ["ONEDNN_MAX_CPU_ISA"], os.environ["MKL_CBWR"])')


def _run(**env):
    base = {k: v for k, v in __import__('os').environ.items() if k not in cpu_kernels.PINS}
    proc = subprocess.run([sys.executable, '-c', SHOW.format(root=str(ROOT))], capture_output=True, text=True,
                          env={**base, **env}, check=True)
    return proc.stdout.splitlines()


def test_pin_sets_both_libraries_to_avx2_before_torch_loads():
    assert _run()[-1] == 'AVX2 AVX2'


def test_a_value_the_user_set_is_kept():
    assert _run(ONEDNN_MAX_CPU_ISA='AVX512_CORE')[-1] == 'AVX512_CORE AVX2'


def test_pinning_after_torch_loaded_is_refused():
    import torch  # noqa: F401  (loaded: too late for oneDNN and MKL to read the variables)
    with pytest.raises(RuntimeError, match='before torch is imported'):
        cpu_kernels.pin()
