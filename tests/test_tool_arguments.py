"""The analysis tools refuse a bad argument before any work, naming the option (no traceback, no run)."""
import json

import pytest

from helpers import ROOT, run_tool

CONFIG = str(ROOT / 'configs/paper/downstream/imp_r50_fmnist_lt.py')


@pytest.mark.parametrize('args, message', [
    (['perturb.py', CONFIG, 'ckpt.pth', '--noise', '-1'], "argument --noise: must be a noise scale >= 0"),
    (['perturb.py', CONFIG, 'ckpt.pth', '--noise', 'nan'], "argument --noise: must be a noise scale >= 0"),
    (['perturb.py', CONFIG, 'ckpt.pth', '--flips', '1.5'], "argument --flips: must be a fraction in [0, 1]"),
    (['perturb.py', CONFIG, 'ckpt.pth', '--repeats', '0'], "argument --repeats: must be a whole number in [1,"),
    (['perturb.py', CONFIG, 'missing.pth'], 'CHECKPOINT missing.pth: not found'),
    (['perturb.py', CONFIG, '{tmp}'], 'CHECKPOINT {tmp}: a folder'),
    (['perturb.py', CONFIG, CONFIG, '--out', '{tmp}'], '--out {tmp} is a folder'),
    (['perturb.py', CONFIG, CONFIG, '--png', '{tmp}/no/such/dir/p.png'], 'the folder {tmp}/no/such/dir does not'),
    (['instability.py', CONFIG, '--threshold', 'nan'], 'argument --threshold: must be a barrier >= 0'),
    (['instability.py', CONFIG, '--alphas', '1'], 'argument --alphas: must be a whole number in [2,'),
    (['instability.py', CONFIG, '--out', '{tmp}'], '--out {tmp} is a folder'),
    (['instability.py', 'nope.py'], 'CONFIG nope.py: not found'),
    (['analyze_imp.py', '{tmp}', '--png', '{tmp}/no/dir/c.png'], 'the folder {tmp}/no/dir does not exist'),
    (['ticket.py', 'prune', 'ckpt.pth', '-o', '{tmp}/t.st', '--seed', str(2 ** 70)],  # was an overflow after loading
     'argument --seed: must be a whole number in [0,'),
    (['instability.py', '/dev/null'], 'CONFIG /dev/null: not a regular file'),
], ids=lambda v: ' '.join(v) if isinstance(v, list) else None)
def test_a_bad_argument_is_refused_before_any_work(tmp_path, args, message):
    args = [a.replace('{tmp}', str(tmp_path)) for a in args]
    proc = run_tool(str(ROOT / 'tools' / args[0]), *args[1:], check=False)
    assert proc.returncode != 0 and message.replace('{tmp}', str(tmp_path)) in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr and not list(tmp_path.rglob('*.json'))


@pytest.mark.parametrize('records, message', [
    ([{'round': 0, 'sparsity': 0.0}, {'round': 1, 'sparsity': 1.5}], 'has sparsity 1.5, outside [0, 1]'),
    ([{'round': 0, 'sparsity': 0.0}, {'round': 1, 'sparsity': 0.2}, {'round': 1, 'sparsity': 0.36}],
     'record 2 is round 1 after round 1; rounds must increase'),
])
def test_analyze_imp_refuses_a_summary_that_no_run_writes(tmp_path, records, message):
    for r in records:
        r.update(metric_name='acc', metric=1.0, metrics={'acc': 1.0}, train_loss=None, ticket=None)
    (tmp_path / 'imp_summary.json').write_text(json.dumps({'records': records}))
    proc = run_tool(str(ROOT / 'tools/analyze_imp.py'), str(tmp_path), check=False)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
