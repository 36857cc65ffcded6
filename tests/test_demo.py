"""The demo end to end in --quick mode: killed part-way, resumed, reported from the runs' own metrics, reused."""
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from demo.cpu_kernels import PINS
from demo.runs import METRIC
from demo.verdicts import Cell, against_random, difference, matches_dense, verdict
from ltcv_mm.core import load_ticket

from helpers import ROOT, checkout_env

DEMO = [sys.executable, str(ROOT / 'tools/demo.py'), '--quick', '--workers', '2']
PRETRAININGS = ('supervised', 'simclr', 'mocov2')
TASKS = ('detection', 'segmentation')
SEEDS = (0, 1)


def _demo(work, *extra):
    proc = subprocess.run([*DEMO, '--work-dir', str(work), *extra], capture_output=True, text=True, timeout=1200,
                          env=checkout_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


PINNED = {name: os.environ.get(name, value) for name, value in PINS.items()}  # a value set by the user is kept


def _stat(path: Path) -> list[str]:
    """The fields of /proc/PID/stat after the command's name: state, parent's pid, ..."""
    return path.read_text().rsplit(')', 1)[1].split()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(_stat(stat)[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie left for a reaper that does not reap counts as ended)."""
    try:
        return _stat(Path(f'/proc/{pid}/stat'))[0] != 'Z'
    except (OSError, IndexError):
        return False


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """A run killed (SIGKILL, the demo's process alone) once the first transfer run finished, then resumed
    to the end. Its workers end with it: none may go on writing into the runs the resumed demo takes up."""
    work = tmp_path_factory.mktemp('demo')
    proc = subprocess.Popen([*DEMO, '--work-dir', str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, env=checkout_env())
    first = work / 'transfer/detection/scratch/seed0/result.json'
    deadline = time.time() + 900
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, f'demo ended before it could be killed:\n{proc.stdout.read()[-3000:]}'
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 60
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, so that a failure here stops here
    # the two workers and multiprocessing's resource tracker
    assert len(workers) >= 2 and not left, f'children {workers}: {left} outlived the demo'
    assert not (work / 'report/overlap.png').exists()  # the figures come at the end only
    resumed = _demo(work)
    return work, resumed


def _expected_runs():
    """(task, pre-training, mode, round, seed) of every fine-tuning --quick makes (one IMP round)."""
    cells = [('', 'scratch', 0)] + [(p, m, 0 if m == 'dense' else 1) for p in PRETRAININGS
                                    for m in ('dense', 'ticket', 'random', 'reverse')]
    return {(t, p, m, k, s) for t in TASKS for p, m, k in cells for s in SEEDS}


def test_instability_of_the_supervised_ticket_and_the_dense_backbone(demo_run):
    from ltcv_mm.analysis.instability import barrier
    work, _ = demo_run
    report = (work / 'report/report.md').read_text()
    assert '## Instability (linear mode connectivity)' in report and (work / 'report/instability.png').is_file()
    for mode in ('ticket', 'dense'):
        record = json.loads((work / f'instability/{mode}/path.json').read_text())
        values = [p['metric'] for p in record['path']]
        assert record['metric'] == 'mIoU' and record['seeds'] == [0, 1] and len(values) == 3
        assert record['barrier'] == pytest.approx(barrier(values))
        assert record['verdict'] == ('stable' if record['barrier'] < 2.0 else 'unstable')
        assert f'| supervised {mode} |' in report and f'{record["barrier"]:.2f} | {record["verdict"]} |' in report
        # the ticket's masks hold at every point; the dense backbone has none
        assert [p['pruned_nonzero'] for p in record['path']] == ([0] * 3 if mode == 'ticket' else [None] * 3)
        assert record['ticket'] == (mode == 'ticket')


def test_the_probe_zeroes_exactly_what_the_ticket_prunes(tmp_path):
    from mmpretrain.models import ResNet

    from demo.probe import load_backbone
    from ltcv_mm.core import Ticket, TicketBindingError, atomic_torch_save
    torch.manual_seed(0)
    source = ResNet(depth=50, stem_channels=4, base_channels=4, out_indices=(3,))
    before = {n: w.detach().clone() for n, w in source.state_dict().items()}
    atomic_torch_save({'state_dict': before}, tmp_path / 'w.pth')
    masks = {n: torch.rand(w.shape) > 0.5 for n, w in source.named_parameters() if w.dim() == 4}
    ticket = Ticket(masks)
    probed = load_backbone(tmp_path / 'w.pth', 4, ticket=ticket).state_dict()
    for n, w in probed.items():
        if n in masks:
            assert torch.equal(w[~masks[n]], torch.zeros_like(w[~masks[n]]))
            assert torch.equal(w[masks[n]], before[n][masks[n]])
        else:  # BatchNorm weights and statistics are not masked
            assert torch.equal(w, before[n])
    with pytest.raises(TicketBindingError, match="layer 'conv1.weight' has shape"):
        load_backbone(tmp_path / 'w.pth', 4, ticket=Ticket({'conv1.weight': torch.ones(4, 3, 3, 3, dtype=torch.bool)}))


def test_a_run_from_before_a_new_setting_is_still_its_own(tmp_path):
    from demo.main import Demo
    from demo.settings import DemoSettings
    old = DemoSettings(detection_backbone_lr_mult=1.0).as_dict()
    del old['instability_alphas']  # a folder made before these settings existed
    del old['detection_backbone_lr_mult']
    del old['reverse_ticket']
    (tmp_path / 'settings.json').write_text(json.dumps(old))
    # its detectors trained the backbone at the full rate, and it transferred the reverse ticket: those are
    # its settings, not today's defaults
    for today in (DemoSettings(), DemoSettings(detection_backbone_lr_mult=1.0)):
        with pytest.raises(SystemExit, match='holds a demo run with other settings'):
            Demo(tmp_path, today)._check_settings()
        (tmp_path / 'settings.json').write_text(json.dumps(old))
    Demo(tmp_path, DemoSettings(detection_backbone_lr_mult=1.0, reverse_ticket=True))._check_settings()
    with pytest.raises(SystemExit, match='holds a demo run with other settings'):
        Demo(tmp_path, DemoSettings(seeds=5))._check_settings()
    with pytest.raises(SystemExit, match='holds a demo run with other settings'):
        Demo(tmp_path, DemoSettings(instability_alphas=11))._check_settings()


def test_resumed_demo_reuses_what_was_finished(demo_run):
    work, out = demo_run
    for p in PRETRAININGS:  # pre-training and IMP ran in the workers, pinned, one thread each
        for stage in ('pretrain', 'imp'):
            result = json.loads((work / stage / p / 'result.json').read_text())
            assert result['cpu_kernels'] == PINNED and result['threads'] == 1, (stage, p)
    assert '[data] reused' in out
    # pre-training, IMP and the first transfer run were finished before the kill
    assert out.count('reused') >= 3 + 3 + 1
    assert 'wall time per stage' in out


def test_every_seed_of_every_run_is_reported_with_its_own_metric(demo_run):
    work, _ = demo_run
    rows = list(csv.DictReader((work / 'report/results.csv').open()))
    seen = {(r['task'], r['pretraining'], r['mode'], int(r['round']), int(r['seed'])) for r in rows}
    assert seen == _expected_runs() and len(rows) == len(seen)
    for r in rows:
        cell = ('scratch' if r['mode'] == 'scratch' else f'{r["pretraining"]}/dense' if r['mode'] == 'dense'
                else f'{r["pretraining"]}/{r["mode"]}_round01')
        result = json.loads((work / 'transfer' / r['task'] / cell / f'seed{r["seed"]}/result.json').read_text())
        # the value is the one the stock evaluator gave that run
        assert result['metrics'][r['metric']] == pytest.approx(float(r['value']), abs=1e-6)
        assert result['cpu_kernels'] == PINNED, 'the transfer workers compute with the pinned CPU kernels'
        assert result['threads'] == 1
        hi = 1.0 if r['metric'] == 'coco/bbox_mAP_50' else 100.0
        assert 0.0 <= float(r['value']) <= hi
        expected = {'scratch': 0.0, 'dense': 0.0, 'ticket': 0.4, 'random': 0.4, 'reverse': 0.6}[r['mode']]
        assert float(r['sparsity']) == pytest.approx(expected, abs=1e-4), r
        if r['mode'] in ('ticket', 'random', 'reverse'):  # the checkpoint's zeros are the mask's
            assert result['checked_sparsity'] == pytest.approx(result['sparsity'], abs=1e-12)
    random_masks = {r['seed']: r['value'] for r in rows if r['mode'] == 'random' and r['task'] == 'segmentation'
                    and r['pretraining'] == 'supervised'}
    assert len(random_masks) == 2


def test_the_verdicts_are_the_documented_rule_applied_to_the_runs(demo_run):
    work, _ = demo_run
    rows = list(csv.DictReader((work / 'report/results.csv').open()))
    text = (work / 'report/report.md').read_text()
    assert '### How the verdicts are computed' in text and "Student's t with n − 1 degrees" in text
    assert 'compared seed by seed' in text
    assert 'CPU kernels: ' + ', '.join(f'{k}={v}' for k, v in PINNED.items()) in text
    for task in TASKS:
        for p in PRETRAININGS:
            runs = {m: [r for r in rows if (r['task'], r['pretraining'], r['mode']) == (task, p, m)]
                    for m in ('dense', 'ticket', 'random')}
            cell = {m: Cell.of([float(r['value']) for r in rs], [int(r['seed']) for r in rs])
                    for m, rs in runs.items()}
            expected = verdict(cell['ticket'], cell['dense'], cell['random'])
            line = next(ln for ln in text.splitlines() if ln.startswith(f'| {task} | {p} | 40.0 % |'))
            assert line.endswith(f'| {expected} |'), line
            against = against_random(cell['ticket'], cell['random'])
            summary = (f'- {task}, {p} (of 40.0 %): highest sparsity matching dense '
                       f'{"40.0 %" if matches_dense(cell["ticket"], cell["dense"]) else "none"}; beats random at '
                       f'{"40.0 %" if against == "beats random" else "none"}; below random at '
                       f'{"40.0 %" if against == "below random" else "none"}')
            assert summary in text, summary
            scale = 100.0 if task == 'detection' else 1.0
            for other in ('dense', 'random'):  # each verdict's interval, n and per-seed differences listed
                scaled = (Cell.of([scale * v for v in c.values], c.seeds) for c in (cell['ticket'], cell[other]))
                assert f'- {task}, {p}, ticket 40.0 % − {other}: {difference(*scaled)}' in text
    probe = json.loads((work / 'probe.json').read_text())
    assert set(probe) == {*PRETRAININGS, 'random init'} and all(0.0 <= v <= 100.0 for v in probe.values())
    assert f'| simclr |  | {probe["simclr"]:.1f} |' in text
    # k-NN under the last ticket and its random mask, before fine-tuning
    under = json.loads((work / 'ticket_probe.json').read_text())
    assert set(under) == set(PRETRAININGS)
    for p, r in under.items():
        last = load_ticket(work / f'imp/{p}/tickets/ticket_round01.safetensors')
        assert r['round'] == 1 and r['sparsity'] == last.sparsity
        assert 0.0 <= r['ticket'] <= 100.0 and 0.0 <= r['random'] <= 100.0
        assert f'| {p} | 40.0 % | {probe[p]:.1f} | {r["ticket"]:.1f} | {r["random"]:.1f} |' in text
    for name in ('metric_vs_sparsity_detection.png', 'metric_vs_sparsity_segmentation.png', 'layer_sparsity.png',
                 'overlap.png'):
        assert (work / 'report' / name).stat().st_size > 1000, name


def test_tickets_match_their_rounds(demo_run):
    work, _ = demo_run
    for p in PRETRAININGS:
        summary = json.loads((work / 'imp' / p / 'tickets/imp_summary.json').read_text())
        assert [r['round'] for r in summary['records']] == [0, 1]
        t = load_ticket(work / 'imp' / p / 'tickets/ticket_round01.safetensors')
        assert t.kept == t.numel - round(0.4 * t.numel) and t.meta['source'] == p  # one IMP step at rate 0.4
    assert json.loads((work / 'imp/supervised/tickets/imp_summary.json').read_text())[
        'records'][1]['metric_name'] == 'accuracy/top1'
    report = (work / 'report/report.md').read_text()
    for p in ('simclr', 'mocov2'):  # judged on their own task by k-NN (KNNValLoop), not by their train loss
        records = json.loads((work / 'imp' / p / 'tickets/imp_summary.json').read_text())['records']
        assert [r['metric_name'] for r in records] == ['knn/top1'] * 2 and all(0 <= r['metric'] <= 100
                                                                               for r in records)
        assert f'| {p} | 1 | 40.00 % | knn/top1 {records[1]["metric"]:.4f} |' in report
        assert f'- {p}: the sparsest ticket within 1 point of dense on knn/top1: ' in report


def test_second_run_reuses_everything_and_refuses_other_settings(demo_run, tmp_path):
    work, _ = demo_run
    before = (work / 'report/results.csv').read_text()
    out = _demo(work)
    # data, every pre-training, IMP and fine-tuning, and the two instability paths
    assert 'estimating' in out and out.count('reused') == 1 + 3 + 3 + len(_expected_runs()) + 2
    assert (work / 'report/results.csv').read_text() == before
    other = subprocess.run([*DEMO, '--work-dir', str(work), '--rounds', '2'], capture_output=True, text=True,
                           env=checkout_env())
    assert other.returncode != 0 and 'other settings' in other.stdout + other.stderr


def test_a_run_killed_between_its_last_checkpoint_and_its_result_still_reports_its_metric(demo_run):
    """The state a kill leaves in that window, made on purpose: the run's checkpoints complete, its
    result.json (written atomically, last) absent. The next demo validates that checkpoint."""
    work, _ = demo_run
    run = work / 'transfer/segmentation/scratch/seed1'
    before = json.loads((run / 'result.json').read_text())
    (run / 'result.json').unlink()
    _demo(work)
    after = json.loads((run / 'result.json').read_text())
    assert after['metrics']['mIoU'] == pytest.approx(before['metrics']['mIoU'])  # the same checkpoint, validated
    assert after['checkpoint'] == before['checkpoint']


def test_the_evidence_preset_transfers_every_round_over_six_seeds():
    """As docs/demo/evidence/PROTOCOL.md fixes it: every round's ticket and random mask, seeds 0-5."""
    from demo.layout import transfer_jobs
    from demo.settings import DemoSettings
    s = DemoSettings.evidence()
    jobs = transfer_jobs(s)
    assert s.seed_list() == [0, 1, 2, 3, 4, 5] and s.transferred_rounds() == (1, 2, 3, 4, 5)
    for task in s.tasks:
        for p in s.pretrainings:
            for mode in ('ticket', 'random'):
                assert {(j.round, j.seed) for j in jobs if (j.task, j.pretraining, j.mode) == (task, p, mode)} == {
                    (k, seed) for k in range(1, 6) for seed in range(6)}
    assert len(jobs) == 2 * (1 + 3 * (1 + 2 * 5 + 1)) * 6  # with the reverse ticket of round 1
    assert {(j.mode, j.round) for j in jobs if j.mode == 'reverse'} == {('reverse', 1)}
    default = transfer_jobs(DemoSettings())  # the 15-minute default: scratch, dense, ticket, random
    assert {j.mode for j in default} == {'scratch', 'dense', 'ticket', 'random'}
    assert len(default) == 2 * (1 + 3 * 3) * 4
    proc = subprocess.run([*DEMO, '--evidence'], capture_output=True, text=True, env=checkout_env())
    assert proc.returncode == 1 and '--quick and --evidence exclude each other' in proc.stderr


def test_low_digit_scenes_annotate_digits_0_to_4_and_leave_the_distractors_as_background():
    import numpy as np

    from demo import digits
    from demo.main import _as_classes
    glyphs, labels = digits.load_digits()
    rng = np.random.default_rng(0)
    scenes = [digits.make_scene(glyphs, labels, rng, digits=(4, 4)) for _ in range(6)]
    low = _as_classes(scenes, ('low digit',))
    for drawn, kept in zip(scenes, low):
        wanted = [i for i, label in enumerate(drawn.labels) if label < 5]
        assert kept.labels == [0] * len(wanted) and kept.boxes == [drawn.boxes[i] for i in wanted]
        label_map = kept.label_map()
        for i, mask in enumerate(drawn.masks):  # distractors are drawn but labelled background
            assert (label_map[mask] == (1 if i in wanted else 0)).all()
        assert (kept.image == drawn.image).all()
    assert sum(len(s.labels) for s in low) < sum(len(s.labels) for s in scenes)


def test_low_high_scenes_annotate_every_digit_as_low_or_high():
    import numpy as np

    from demo import digits
    from demo.main import _as_classes
    from demo.runs import SCENE_KINDS
    glyphs, labels = digits.load_digits()
    rng = np.random.default_rng(1)
    scenes = [digits.make_scene(glyphs, labels, rng, digits=(4, 4)) for _ in range(6)]
    halves = _as_classes(scenes, SCENE_KINDS['low/high'])
    for drawn, kept in zip(scenes, halves):
        assert kept.labels == [int(label >= 5) for label in drawn.labels] and kept.boxes == drawn.boxes
        label_map = kept.label_map()
        for label, mask in zip(drawn.labels, drawn.masks):
            assert (label_map[mask] == (2 if label >= 5 else 1)).all()
    assert {label for s in halves for label in s.labels} == {0, 1}


def _soup_files(work: Path) -> list[Path]:
    return sorted((work / 'methods/soup/supervised').rglob('*.safetensors'))


def test_the_ticket_methods_bench_finds_tickets_beside_imp_and_transfers_them(demo_run):
    """bench/bench_ticket_methods.py in the demo's folder: GMP reaches IMP's exact count in a third of its
    steps; the soup's ticket is the pruned average of its copies, and a soup round resumed after one copy
    ends with the same ticket; refill's ticket is whole channels; every cell holds each seed's own metric."""
    from ltcv_mm.core import prune, select_prunable, torch_load_safe
    from ltcv_mm.core.channel_refill import block_convs
    work, _ = demo_run
    bench = [str(ROOT / 'bench/bench_ticket_methods.py'), '--work', str(work), '--pretrainings', 'supervised',
             '--rounds', '1', '--copies', '2']

    def run(*extra):
        proc = subprocess.run([sys.executable, *bench, *extra], capture_output=True, text=True, timeout=1200,
                              env=checkout_env())
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout
    out = run()
    found = json.loads((work / 'methods/results.json').read_text())['found']
    imp = load_ticket(work / 'imp/supervised/tickets/ticket_round01.safetensors')
    gmp = load_ticket(found['gmp']['supervised']['1']['ticket'])
    assert gmp.kept == imp.kept and gmp.meta['method'] == 'gmp' and gmp.meta['schedule']
    assert 0 < found['gmp']['supervised']['1']['steps'] <= round(found['imp']['supervised']['1']['steps'] / 3)
    # the soup: the mean of round 0's copies, pruned by the demo's rate
    copies = sorted((work / 'methods/soup/supervised/round00').glob('copy*'))
    states = [torch_load_safe(json.loads((c / 'result.json').read_text())['checkpoint'])['state_dict'] for c in copies]
    mean = {k: (sum(s[k].double() for s in states) / len(states)).float() for k in states[0]
            if k.startswith('backbone.') and states[0][k].is_floating_point()}
    settings = json.loads((work / 'settings.json').read_text())
    expected = prune(select_prunable(mean), rate=settings['imp_rate'])
    soup = load_ticket(found['soup']['supervised']['1']['ticket'])
    assert len(copies) == 2 and soup.meta['method'] == 'soup' and soup.meta['copies'] == 2
    assert set(soup.masks) == set(imp.masks) == set(expected.masks)
    assert all(torch.equal(soup.masks[n], expected.masks[n]) for n in soup.masks)
    assert not all(torch.equal(soup.masks[n], imp.masks[n]) for n in soup.masks)  # another ticket than IMP's
    refill = load_ticket(found['refill']['supervised']['1']['ticket'])
    assert refill.meta['refill'] == 'channels'
    for convs in block_convs(refill.masks).values():
        for name in convs[:-1]:  # whole output channels: a channel keeps all of its live inputs or none
            per_channel = refill.masks[name].flatten(1)
            live = per_channel.any(0)
            assert all(bool(row[live].all()) or not bool(row.any()) for row in per_channel), name
    cells = json.loads((work / 'methods/results.json').read_text())['cells']
    for method in ('gmp', 'soup', 'refill'):
        for task in TASKS:
            cell = next(c for c in cells if (c['method'], c['task'], c['round']) == (method, task, 1))
            for seed in SEEDS:
                result = json.loads((work / f'methods/{method}/supervised/transfer/{task}/round01/seed{seed}'
                                     '/result.json').read_text())
                assert cell['values'][str(seed)] == result['metrics'][METRIC[task]]
                assert result['cpu_kernels'] == PINNED  # the demo's sums, so that the pairs are pairs
    assert '| gmp |' in out and '| soup |' in out and '| refill |' in out
    # a soup round interrupted after its first copy, resumed: the same ticket, to the bit
    before = {p.relative_to(work): p.read_bytes() for p in _soup_files(work)}
    for gone in ('round00/copy1', 'round00/soup.pth', 'round01', 'method.json'):
        path = work / 'methods/soup/supervised' / gone
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    run('--methods', 'soup')
    assert {p.relative_to(work): p.read_bytes() for p in _soup_files(work)} == before
    # at another rate: IMP itself runs again at it, beside GMP at it; the pre-training side only
    out = run('--lr', '0.01', '--no-transfer', '--methods', 'gmp')
    lr = work / 'methods/lr0.01'
    for run_dir in (lr / 'imp/supervised/imp', lr / 'gmp/supervised/round01'):
        assert re.search(r'\blr=0\.01\b', next(run_dir.glob('*.py')).read_text())  # the config the Runner ran
    imp_lr = load_ticket(json.loads((lr / 'imp/supervised/method.json').read_text())['1']['ticket'])
    gmp_lr = load_ticket(json.loads((lr / 'gmp/supervised/method.json').read_text())['1']['ticket'])
    assert gmp_lr.kept == imp_lr.kept == imp.kept and imp_lr.meta['round'] == 1
    assert not (lr / 'gmp/supervised/transfer').exists() and 'detection' not in out and '| gmp |' in out
    assert '| random |' not in out  # the demo's random masks are of another IMP's tickets
