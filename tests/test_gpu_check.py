"""The GPU check script stays ready for a GPU: the same checks run here on the CPU, at the smallest size."""
import subprocess

from helpers import ROOT, run_tool


def test_gpu_check_runs_every_check_on_the_cpu():
    proc = run_tool('tools/gpu_check.py', '--device', 'cpu')
    lines = [ln for ln in proc.stdout.splitlines() if ln.split(' ', 1)[0] in ('PASS', 'FAIL', 'SKIP')]
    assert [ln.split(':', 1)[0] for ln in lines] == [
        'PASS masks-follow-device', 'PASS imp-round-amp', 'PASS detection-amp', 'PASS segmentation-amp',
        'PASS mask-overhead', 'PASS structured-latency'], proc.stdout
    assert 'zero where pruned' in lines[1] and '0 pruned weights off zero after every step' in lines[2]


def test_gpu_check_refuses_bad_parts_and_a_missing_gpu():
    proc = run_tool('tools/gpu_check.py', '--parts', 'masking,warp', check=False)
    assert proc.returncode == 2 and "unknown parts ['warp']" in proc.stderr
    proc = run_tool('tools/gpu_check.py', '--parts', 'masking', check=False)  # no CUDA device here
    assert proc.returncode == 1 and 'FAIL device: no CUDA device visible' in proc.stdout


def test_gpu_check_shell_scripts_parse():
    for script in ('tools/gpu_check.sh', 'tools/gpu_check_wheels.sh'):
        subprocess.run(['bash', '-n', str(ROOT / script)], check=True)
