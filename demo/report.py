"""The demo's report: table, metric-vs-sparsity plots, per-layer sparsity, mask overlap.

Every number comes from a run's result.json (the stock evaluators' metrics),
from the ticket files, or from the IMP summaries; a metric outside its valid
range stops the report instead of being printed.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import torch

from ltcv_mm.analysis.imp_summary import read_curve
from ltcv_mm.analysis.plots import layer_sparsity_chart, metric_curves, overlap_heatmap, overlap_matrix
from ltcv_mm.core import atomic_write_bytes, load_ticket, random_like
from . import runs

# Valid ranges of the reported metrics: CocoMetric's mAP is a fraction, mmseg's mIoU a percentage.
RANGE = {'coco/bbox_mAP_50': (0.0, 1.0), 'mIoU': (0.0, 100.0)}


def _metric(result: dict, work: Path) -> float:
    name = result['metric']
    if name not in result['metrics']:
        raise ValueError(f'{work}: no {name!r} among the metrics of the run {sorted(result["metrics"])}')
    value = result['metrics'][name]
    lo, hi = RANGE[name]
    if not lo <= value <= hi:
        raise ValueError(f'{work}: {name} = {value} is outside [{lo}, {hi}]')
    return value


def collect(demo) -> list[dict]:
    """One row per (task, pre-training, round): dense / ticket / random metric."""
    s = demo.s
    rows = []
    for task in s.tasks:
        for p in s.pretrainings:
            dense_dir = demo.transfer_dir(task, p, 'dense', 0)
            dense = _metric(runs.read_result(dense_dir), dense_dir)
            for k in range(1, s.imp_rounds + 1):
                row = dict(task=task, pretraining=p, metric=runs.METRIC[task], round=k, dense=dense)
                for mode in ('ticket', 'random'):
                    work = demo.transfer_dir(task, p, mode, k)
                    result = runs.read_result(work)
                    row[mode] = _metric(result, work)
                    row['sparsity'] = result['sparsity']
                    if abs(result['checked_sparsity'] - result['sparsity']) > 1e-9:
                        raise ValueError(f'{work}: the checkpoint holds {result["checked_sparsity"]:.6f} zeros '
                                         f'where the mask prunes, expected {result["sparsity"]:.6f}')
                rows.append(row)
    return rows


def write_report(demo) -> Path:
    out = demo.work / 'report'
    out.mkdir(parents=True, exist_ok=True)
    s = demo.s
    rows = collect(demo)

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(['task', 'pretraining', 'metric', 'round', 'sparsity', 'dense', 'ticket', 'random'])
    for r in rows:
        w.writerow([r['task'], r['pretraining'], r['metric'], r['round'], f'{r["sparsity"]:.6f}',
                    f'{r["dense"]:.6f}', f'{r["ticket"]:.6f}', f'{r["random"]:.6f}'])
    atomic_write_bytes(out / 'results.csv', buf.getvalue().encode())

    figures = {}
    for task in s.tasks:
        series, dense = {}, {}
        for p in s.pretrainings:
            mine = [r for r in rows if r['task'] == task and r['pretraining'] == p]
            dense[p] = mine[0]['dense']
            series[f'{p} ticket'] = [(0.0, dense[p])] + [(100 * r['sparsity'], r['ticket']) for r in mine]
            series[f'{p} random'] = [(0.0, dense[p])] + [(100 * r['sparsity'], r['random']) for r in mine]
        figures[task] = metric_curves(series, out / f'metric_vs_sparsity_{task}.png', runs.METRIC[task],
                                      title=f'{task}: transferred tickets vs random masks', dense=dense)

    last = {p: load_ticket(demo.ticket(p, s.imp_rounds)) for p in s.pretrainings}
    layer_sparsity_chart(list(last.values()), [f'{p} round {s.imp_rounds}' for p in last],
                         out / 'layer_sparsity.png')
    first = next(iter(last.values()))
    reference = random_like(first.masks, first, 0.0, torch.Generator().manual_seed(s.seed))
    names = [*last, 'random (same layers)']
    matrix = overlap_matrix([*last.values(), reference])
    overlap_heatmap(matrix, names, out / 'overlap.png',
                    title=f'IoU of kept weights, round {s.imp_rounds} tickets')

    lines = ['# ltcv_mm demo report', '',
             f'Backbone: ResNet-50 topology at width {s.width} (64 = full), images {s.cls_size} px '
             f'(classification) and {s.scene_size} px (scenes), digits from scikit-learn.', '',
             '## Pre-training IMP', '',
             '| pre-training | round | sparsity | value judged |', '|---|---|---|---|']
    for p in s.pretrainings:
        curve = read_curve(demo.work / 'imp' / p)
        for r, sp, v in zip(curve.rounds, curve.sparsity, curve.values):
            lines.append(f'| {p} | {r} | {100 * sp:.2f} % | {curve.name} {v:.4f} |')
    lines += ['', '## Transfer', '',
              '| task | pre-training | metric | sparsity | dense | ticket | random |', '|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["task"]} | {r["pretraining"]} | {r["metric"]} | {100 * r["sparsity"]:.2f} % | '
                     f'{r["dense"]:.4f} | {r["ticket"]:.4f} | {r["random"]:.4f} |')
    lines += ['', '## Figures', '']
    for task, path in figures.items():
        lines.append(f'![{task}]({path.name})')
    lines += ['![per-layer sparsity](layer_sparsity.png)', '![overlap](overlap.png)', '',
              '## Mask overlap (IoU of kept weights)', '',
              '| | ' + ' | '.join(names) + ' |', '|---' * (len(names) + 1) + '|']
    for n, row in zip(names, matrix):
        lines.append(f'| {n} | ' + ' | '.join(f'{v:.3f}' for v in row) + ' |')
    report = out / 'report.md'
    atomic_write_bytes(report, ('\n'.join(lines) + '\n').encode())
    return report
