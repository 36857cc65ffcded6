"""The demo end to end at its smallest settings: killed part-way, resumed, reported, reused."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, checkout_env
from ltcv_mm.core import load_ticket

DEMO = [sys.executable, str(ROOT / 'tools/demo.py'), '--smallest']


def _demo(work, *extra):
    proc = subprocess.run([*DEMO, '--work-dir', str(work), *extra], capture_output=True, text=True, timeout=1200,
                          env=checkout_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """A run killed (SIGKILL) once the first transfer run finished, then resumed to the end."""
    work = tmp_path_factory.mktemp('demo')
    proc = subprocess.Popen([*DEMO, '--work-dir', str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, env=checkout_env())
    first = work / 'transfer/detection/supervised/dense/result.json'
    deadline = time.time() + 900
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, f'demo ended before it could be killed:\n{proc.stdout.read()[-3000:]}'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / 'report/report.md').exists()
    resumed = _demo(work)
    return work, resumed


def test_resumed_demo_reuses_what_was_finished(demo_run):
    work, out = demo_run
    assert '[data] reused' in out
    # pre-training, IMP and the first transfer run were finished before the kill
    assert out.count('reused') >= 3 + 3 + 1
    assert 'wall time per stage' in out


def test_report_holds_real_metrics_in_range(demo_run):
    work, _ = demo_run
    report = work / 'report'
    for name in ('report.md', 'results.csv', 'metric_vs_sparsity_detection.png',
                 'metric_vs_sparsity_segmentation.png', 'layer_sparsity.png', 'overlap.png'):
        assert (report / name).stat().st_size > 1000 or name.endswith('.csv'), name
    rows = list(csv.DictReader((report / 'results.csv').open()))
    assert {(r['task'], r['pretraining']) for r in rows} == {
        (t, p) for t in ('detection', 'segmentation') for p in ('supervised', 'simclr', 'mocov2')}
    for r in rows:
        hi = 1.0 if r['metric'] == 'coco/bbox_mAP_50' else 100.0
        for col in ('dense', 'ticket', 'random'):
            assert 0.0 <= float(r[col]) <= hi, r
        assert float(r['sparsity']) == pytest.approx(1 - 0.6 ** int(r['round']), abs=1e-4)  # rate 0.4
        # each number is the one the stock evaluator gave that run
        mode_dir = work / 'transfer' / r['task'] / r['pretraining'] / f'ticket_round{int(r["round"]):02d}'
        result = json.loads((mode_dir / 'result.json').read_text())
        assert result['metrics'][r['metric']] == pytest.approx(float(r['ticket']), abs=1e-6)
        assert result['checked_sparsity'] == pytest.approx(result['sparsity'], abs=1e-12)
    text = (report / 'report.md').read_text()
    assert '| detection | supervised | coco/bbox_mAP_50 | 40.00 % |' in text
    assert '## Mask overlap (IoU of kept weights)' in text


def test_tickets_match_their_rounds(demo_run):
    work, _ = demo_run
    for p in ('supervised', 'simclr', 'mocov2'):
        summary = json.loads((work / 'imp' / p / 'tickets/imp_summary.json').read_text())
        assert [r['round'] for r in summary['records']] == [0, 1]
        t = load_ticket(work / 'imp' / p / 'tickets/ticket_round01.safetensors')
        assert t.kept == t.numel - round(0.4 * t.numel) and t.meta['source'] == p  # one IMP step at rate 0.4
    assert json.loads((work / 'imp/supervised/tickets/imp_summary.json').read_text())[
        'records'][1]['metric_name'] == 'accuracy/top1'


def test_second_run_reuses_everything_and_refuses_other_settings(demo_run, tmp_path):
    work, _ = demo_run
    before = (work / 'report/results.csv').read_text()
    out = _demo(work)
    assert 'estimating' in out and out.count('reused') == 1 + 24   # data + every run
    assert (work / 'report/results.csv').read_text() == before
    other = subprocess.run([*DEMO, '--work-dir', str(work), '--rounds', '2'], capture_output=True, text=True,
                           env=checkout_env())
    assert other.returncode != 0 and 'other settings' in other.stdout + other.stderr
