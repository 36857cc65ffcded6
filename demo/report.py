"""The demo's report: pre-training quality, IMP, and the transfer table with verdicts, plots, overlap.

Every number comes from a run's result.json (the stock evaluators' metrics),
from probe.json, from the ticket files, or from the IMP summaries; a metric
outside its valid range stops the report instead of being printed. The
report is rewritten after every finished fine-tuning (tables only; figures
at the end), so a partial one is readable while the demo runs; cells still
to run read '…'.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import torch

from ltcv_mm.analysis.imp_summary import read_curve
from ltcv_mm.analysis.plots import layer_sparsity_chart, metric_curves, overlap_heatmap, overlap_matrix, path_curve
from ltcv_mm.core import atomic_write_bytes, load_ticket, random_like

from . import runs
from .layout import DemoLayout, transfer_jobs
from .settings import INSTABILITY_MODES, DemoSettings
from .verdicts import Cell, above, against_random, difference, matches_dense, verdict

# Valid ranges of the reported metrics: CocoMetric's mAP is a fraction, mmseg's mIoU a percentage.
RANGE = {'coco/bbox_mAP_50': (0.0, 1.0), 'mIoU': (0.0, 100.0)}
VERDICT_RULES = [
    'Each cell is the mean ± sample standard deviation of the same fine-tuning over the seeds. Runs with '
    'the same seed share data order, augmentation draws and head initialisation (only the backbone '
    'differs), so a ticket T and another cell C are compared seed by seed: the per-seed differences '
    'd = T − C give mean(d) ± t·sd(d)/sqrt(n), the 95 % interval of Student\'s t with n − 1 degrees of '
    'freedom (t = 3.18 for 4 seeds, 2.57 for 6; cells on different seeds: Welch\'s interval).',
    '*matches dense*: the interval of T − dense reaches 0 or above (within the noise, or better); otherwise '
    '*below dense*.',
    '*beats random*: the interval of T − random lies above 0; *below random*: below 0; otherwise *within '
    'noise*. The reverse ticket is judged against T the same way.',
    'Pre-training matters where the interval of dense − scratch lies above 0. Every interval, with n and '
    'the per-seed differences, is listed under "Verdict intervals".']


def table_scale(task: str) -> float:
    """The factor from the stock metric to the report's units: mAP (a fraction) is shown x100."""
    return 100.0 if task == 'detection' else 1.0


def number(value: float | None) -> str:
    """A figure of the report; '-' where a path point or barrier is not a number (strict JSON's null)."""
    return '-' if value is None else f'{value:.2f}'

def _metric(result: dict, work: Path) -> float:
    name = result['metric']
    if name not in result['metrics']:
        raise ValueError(f'{work}: no {name!r} among the metrics of the run {sorted(result["metrics"])}')
    value = result['metrics'][name]
    lo, hi = RANGE[name]
    if not lo <= value <= hi:
        raise ValueError(f'{work}: {name} = {value} is outside [{lo}, {hi}]')
    return value


def collect(layout: DemoLayout, s: DemoSettings) -> list[dict]:
    """One record per finished fine-tuning: its job, sparsity and the stock evaluator's metric."""
    out = []
    for job in transfer_jobs(s):
        work = layout.transfer_dir(job)
        if not runs.is_done(work):
            continue
        result = runs.read_result(work)
        if 'checked_sparsity' in result and abs(result['checked_sparsity'] - result['sparsity']) > 1e-9:
            raise ValueError(f'{work}: the checkpoint holds {result["checked_sparsity"]:.6f} zeros where the '
                             f'mask prunes, expected {result["sparsity"]:.6f}')
        out.append(dict(task=job.task, pretraining=job.pretraining or '', mode=job.mode, round=job.round, seed=job.seed,
                        sparsity=result['sparsity'], metric=result['metric'], value=_metric(result, work),
                        cpu_kernels=result.get('cpu_kernels')))
    return out


def kernels_used(records: list[dict]) -> str:
    """The CPU kernels the fine-tunings ran with, as their results record them (not this process's)."""
    def named(pins: dict | None) -> str:
        if pins is None:
            return 'not recorded'
        return ', '.join(f'{k}={v}' for k, v in pins.items() if v) or "the CPU's own"
    seen = sorted({named(r['cpu_kernels']) for r in records})
    if not seen:
        return 'no run finished yet'
    return seen[0] if len(seen) == 1 else 'mixed: ' + '; '.join(seen)


def cells(records: list[dict]) -> dict[tuple, Cell]:
    """(task, pre-training, mode, round) -> the cell of its seeds' values."""
    grouped: dict[tuple, dict[int, float]] = {}
    for r in records:
        grouped.setdefault((r['task'], r['pretraining'], r['mode'], r['round']), {})[r['seed']] = r['value']
    return {k: Cell.of(list(v.values()), list(v)) for k, v in grouped.items()}


def _fmt(cell: Cell | None, scale: float, seeds: int) -> str:
    """mean ± sd, with the run count when some of the ``seeds`` runs are still missing."""
    if cell is None:
        return '…'
    return f'{scale * cell.mean:.2f} ± {scale * cell.std:.2f}' + (f' (n={cell.n})' if cell.n != seeds else '')


def transfer_rows(layout: DemoLayout, s: DemoSettings, table: dict[tuple, Cell]) -> list[dict]:
    """The report's transfer rows: per task, pre-training and transferred round, every cell and verdict."""
    rows = []
    for task in s.tasks:
        scratch = table.get((task, '', 'scratch', 0))
        for p in s.pretrainings:
            dense = table.get((task, p, 'dense', 0))
            for k in s.transferred_rounds():
                t, rnd = table.get((task, p, 'ticket', k)), table.get((task, p, 'random', k))
                rev = table.get((task, p, 'reverse', k)) if k == min(s.transferred_rounds()) else None
                row = dict(task=task, pretraining=p, round=k, scratch=scratch, dense=dense, ticket=t, random=rnd,
                           reverse=rev, sparsity=_sparsity(layout, p, k))
                complete = None not in (t, dense, rnd)
                row['verdict'] = verdict(t, dense, rnd) if complete else '…'
                row['reverse_verdict'] = (against_random(t, rev).replace('random', 'reverse')
                                          if t is not None and rev is not None else '')
                rows.append(row)
    return rows


def _sparsity(layout: DemoLayout, p: str, k: int) -> float | None:
    path = layout.ticket(p, k)
    return load_ticket(path).sparsity if path.is_file() else None


def pretraining_matters(scratch: Cell | None, dense: Cell | None) -> str:
    if scratch is None or dense is None:
        return '…'
    return 'above scratch' if above(dense, scratch) else 'not above scratch'


def write_report(layout: DemoLayout, s: DemoSettings, figures: bool = True) -> Path:
    """Write report/report.md and results.csv from every finished run (and the figures)."""
    out = layout.report
    out.mkdir(parents=True, exist_ok=True)
    records = collect(layout, s)
    table = cells(records)
    rows = transfer_rows(layout, s, table)

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(['task', 'pretraining', 'mode', 'round', 'seed', 'sparsity', 'metric', 'value'])
    for r in records:
        w.writerow([r['task'], r['pretraining'], r['mode'], r['round'], r['seed'], f'{r["sparsity"]:.6f}',
                    r['metric'], f'{r["value"]:.6f}'])
    atomic_write_bytes(out / 'results.csv', buf.getvalue().encode())

    lines = ['# ltcv_mm demo report', '',
             f'Backbone: ResNet-50 topology at width {s.width} (64 = full), images {s.cls_size} px '
             f'(classification) and {s.scene_size} px (scenes), digits from scikit-learn; '
             f'{s.seeds} seeds per fine-tuning ({", ".join(map(str, s.seed_list()))}). CPU kernels: '
             + kernels_used(records) + ' (demo/cpu_kernels.py).', '']
    lines += _pretraining_section(layout, s)
    lines += ['## Transfer', '', 'Metric ×100 for detection (COCO bbox mAP@50), mIoU (%) for segmentation; '
              'mean ± standard deviation over the seeds.', '',
              '| task | pre-training | sparsity | scratch | dense | ticket | random | '
              + ('reverse | ' if s.reverse_ticket else '') + 'pre-training matters | verdict |',
              '|---|---|---|---|---|---|---|' + ('---|' if s.reverse_ticket else '') + '---|---|']
    for r in rows:
        scale = table_scale(r['task'])
        sp = '…' if r['sparsity'] is None else f'{100 * r["sparsity"]:.1f} %'
        rev = _fmt(r['reverse'], scale, s.seeds) if r['reverse'] is not None or r['round'] == min(
            s.transferred_rounds()) else ''
        if r['reverse'] is not None:
            rev += f' ({100 * (1 - r["sparsity"]):.1f} % sparse: {r["reverse_verdict"]})'
        lines.append(f'| {r["task"]} | {r["pretraining"]} | {sp} | {_fmt(r["scratch"], scale, s.seeds)} | '
                     f'{_fmt(r["dense"], scale, s.seeds)} | {_fmt(r["ticket"], scale, s.seeds)} | '
                     f'{_fmt(r["random"], scale, s.seeds)} | ' + (f'{rev} | ' if s.reverse_ticket else '')
                     + f'{pretraining_matters(r["scratch"], r["dense"])} | {r["verdict"]} |')
    lines += _summary_section(rows)
    lines += ['', '### How the verdicts are computed', ''] + [f'- {rule}' for rule in VERDICT_RULES]
    lines += _interval_section(rows)
    lines += _instability_section(layout, out, figures)
    if figures:
        lines += _figures(layout, s, rows, out)
    report = out / 'report.md'
    atomic_write_bytes(report, ('\n'.join(lines) + '\n').encode())
    return report


def sparsity_summary(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (task, pre-training), over its transferred rounds with every cell finished: the highest sparsity at
    which the ticket matches dense, and the sparsities at which it beats / falls below its random mask."""
    out = {}
    for r in rows:
        if None in (r['ticket'], r['dense'], r['random'], r['sparsity']):
            continue
        entry = out.setdefault((r['task'], r['pretraining']), dict(sparsities=[], matches=None, beats=[], below=[]))
        entry['sparsities'].append(r['sparsity'])
        if matches_dense(r['ticket'], r['dense']):
            entry['matches'] = max(entry['matches'] or 0.0, r['sparsity'])
        against = against_random(r['ticket'], r['random'])
        if against != 'within noise':
            entry['beats' if against == 'beats random' else 'below'].append(r['sparsity'])
    return out


def _summary_section(rows: list[dict]) -> list[str]:
    def pct(values: list[float]) -> str:
        return ', '.join(f'{100 * v:.1f} %' for v in sorted(values)) or 'none'

    lines = ['', '### Per task and pre-training', '',
             'Over the transferred sparsities: the highest at which the ticket matches dense, and those at which '
             'it beats (or falls below) its random mask.', '']
    for (task, p), e in sparsity_summary(rows).items():
        matches = 'none' if e['matches'] is None else f'{100 * e["matches"]:.1f} %'
        lines.append(f'- {task}, {p} (of {pct(e["sparsities"])}): highest sparsity matching dense {matches}; '
                     f'beats random at {pct(e["beats"])}; below random at {pct(e["below"])}')
    return lines


def _interval_section(rows: list[dict]) -> list[str]:
    """Each verdict's differences: mean [95 % interval] (n; per-seed differences), in the table's units."""
    lines = ['', '### Verdict intervals', '',
             'Differences in the table\'s units: mean [95 % interval] (n; per-seed differences).', '']
    seen = set()
    for r in rows:
        scale = table_scale(r['task'])
        pairs = [('dense − scratch', r['dense'], r['scratch'])] if (r['task'], r['pretraining']) not in seen else []
        seen.add((r['task'], r['pretraining']))
        sp = '…' if r['sparsity'] is None else f'{100 * r["sparsity"]:.1f} %'
        pairs += [(f'ticket {sp} − dense', r['ticket'], r['dense']),
                  (f'ticket {sp} − random', r['ticket'], r['random']),
                  (f'reverse − ticket {sp}', r['reverse'], r['ticket'])]
        for name, a, b in pairs:
            if a is not None and b is not None:
                scaled = (Cell.of([scale * v for v in c.values], c.seeds) for c in (a, b))
                lines.append(f'- {r["task"]}, {r["pretraining"]}, {name}: {difference(*scaled)}')
    return lines


def _pretraining_section(layout: DemoLayout, s: DemoSettings) -> list[str]:
    lines = ['## Pre-training', '',
             'Top-1 of the supervised classifier (its stock evaluator, held-out digits) and k-NN accuracy '
             '(k = 5, cosine, features of the last stage) of every backbone on the held-out digits; chance is '
             '10 %, and a randomly initialised backbone is the floor of the k-NN column.', '',
             '| backbone | top-1 (%) | k-NN (%) |', '|---|---|---|']
    knn = json.loads(layout.probe.read_text()) if layout.probe.is_file() else {}
    for p in (*s.pretrainings, 'random init'):
        top1 = ''
        if p == 'supervised' and runs.is_done(layout.pretrain_work(p)):
            top1 = f'{runs.read_result(layout.pretrain_work(p))["metrics"].get("accuracy/top1", float("nan")):.1f}'
        lines.append(f'| {p} | {top1} | {knn[p]:.1f} |' if p in knn else f'| {p} | {top1} | … |')
    lines += _ticket_probe_lines(layout, s, knn)
    lines += ['', '## IMP on the pre-training tasks', '',
              '| pre-training | round | sparsity | value judged |', '|---|---|---|---|']
    for p in s.pretrainings:
        try:
            curve = read_curve(layout.imp_work(p))
        except (FileNotFoundError, ValueError):
            lines.append(f'| {p} | … | | |')
            continue
        for r, sp, v in zip(curve.rounds, curve.sparsity, curve.values):
            lines.append(f'| {p} | {r} | {100 * sp:.2f} % | {curve.name} {v:.4f} |')
    return lines + [''] + _matching_lines(layout, s)


# a ticket matches the dense backbone on its own task within this many points (top-1 or k-NN, %): fixed
# before any result was read (one validation per round: no seeds to judge the noise by)
MATCH_TOLERANCE = 1.0


def _matching_lines(layout: DemoLayout, s: DemoSettings) -> list[str]:
    """Per pre-training, the sparsest IMP ticket that matches the dense round on the pre-training task
    (the paper's first table): top-1 for the supervised run, k-NN for the self-supervised ones."""
    lines = []
    for p in s.pretrainings:
        try:
            curve = read_curve(layout.imp_work(p))
        except (FileNotFoundError, ValueError):
            continue
        if not curve.higher_is_better or curve.dense is None:  # judged by its train loss: nothing to match
            continue
        best = curve.winning(MATCH_TOLERANCE)
        found = (f'{100 * curve.sparsity[best]:.2f} % sparse (round {curve.rounds[best]}, {curve.values[best]:.1f} '
                 f'against dense {curve.dense:.1f})' if best is not None else 'none of the pruned rounds')
        lines.append(f'- {p}: the sparsest ticket within {MATCH_TOLERANCE:g} point of dense on {curve.name}: {found}')
    if not lines:
        return []
    return ['Matching tickets on the pre-training task (each round\'s trained ticket, one validation):', '',
            *lines, '']


def _ticket_probe_lines(layout: DemoLayout, s: DemoSettings, knn: dict) -> list[str]:
    """k-NN of each backbone under its last transferred ticket and under that ticket's random mask."""
    path = layout.ticket_probe
    if not path.is_file():
        return []
    probe = json.loads(path.read_text())
    lines = ['', 'The same k-NN accuracy before any fine-tuning, with the backbone under its ticket and under '
             'a random mask of the ticket\'s per-layer sparsity (seed '
             f'{s.seed}; BatchNorm statistics as pre-trained): how much of the pre-trained features each '
             'mask keeps.', '', '| backbone | sparsity | dense k-NN (%) | ticket k-NN (%) | random mask k-NN (%) |',
             '|---|---|---|---|---|']
    for p, r in probe.items():
        dense = f'{knn[p]:.1f}' if p in knn else '…'
        lines.append(f'| {p} | {100 * r["sparsity"]:.1f} % | {dense} | {r["ticket"]:.1f} | {r["random"]:.1f} |')
    return lines


def _instability_section(layout: DemoLayout, out: Path, figures: bool) -> list[str]:
    """The instability analysis (``--instability``): barrier and verdict of the supervised ticket and the
    dense backbone, and their paths in one figure."""
    paths = {m: layout.instability_path(m) for m in INSTABILITY_MODES}
    records = {m: json.loads(p.read_text()) for m, p in paths.items() if p.is_file()}
    if not records:
        return []
    first = next(iter(records.values()))
    lines = ['', '## Instability (linear mode connectivity)', '',
             f'Segmentation, {first["metric"]} (%): two copies fine-tuned from the same start with seeds '
             f'{first["seeds"][0]} and {first["seeds"][1]} (data order and augmentation differ), then '
             f'{len(first["path"])} evenly spaced points on the straight line between their weights, each with '
             f'BatchNorm statistics recomputed on {first["bn_batches"]} training batches and the stock evaluator; '
             f'the ticket\'s masks hold at every point. Barrier = mean of the two ends minus the worst point; '
             f'stable below {first["threshold"]:g} points (Frankle et al., ICML 2020).', '',
             '| backbone | sparsity | ends | worst on the path | barrier | verdict |', '|---|---|---|---|---|---|']
    for mode, r in records.items():
        values = [p['metric'] for p in r['path']]
        sparsity = load_ticket(layout.ticket('supervised', r['round'])).sparsity if mode == 'ticket' else 0.0
        worst = None if None in values else min(values)
        lines.append(f'| supervised {mode} | {100 * sparsity:.1f} % | {number(values[0])}, {number(values[-1])} | '
                     f'{number(worst)} | {number(r["barrier"])} | {r["verdict"]} |')
    if figures:
        path_curve([p['alpha'] for p in first['path']],
                   {f'supervised {m}': [p['metric'] for p in r['path']] for m, r in records.items()},
                   first['metric'], out / 'instability.png', title='segmentation: the path between two copies')
        lines += ['', '![instability](instability.png)']
    return lines


def _figures(layout: DemoLayout, s: DemoSettings, rows: list[dict], out: Path) -> list[str]:
    lines = ['', '## Figures', '']
    for task in s.tasks:
        series, flat = {}, {}
        scale = table_scale(task)
        for r in (r for r in rows if r['task'] == task and r['dense'] is not None):
            p, d = r['pretraining'], r['dense']
            for mode in ('ticket', 'random'):
                points = series.setdefault(f'{p} {mode}', [(0.0, scale * d.mean, scale * d.std)])
                if r[mode] is not None:
                    points.append((100 * r['sparsity'], scale * r[mode].mean, scale * r[mode].std))
            flat[p] = scale * d.mean
        scratch = next((r['scratch'] for r in rows if r['task'] == task and r['scratch'] is not None), None)
        if scratch is not None:
            flat['scratch'] = scale * scratch.mean
        path = metric_curves(series, out / f'metric_vs_sparsity_{task}.png',
                             ('COCO bbox mAP@50 x100' if task == 'detection' else 'mIoU (%)'),
                             title=f'{task}: transferred tickets vs random masks (mean ± sd over seeds)', dense=flat)
        lines.append(f'![{task}]({path.name})')
    k = max(s.transferred_rounds())
    last = {p: load_ticket(layout.ticket(p, k)) for p in s.pretrainings}
    layer_sparsity_chart(list(last.values()), [f'{p} round {k}' for p in last], out / 'layer_sparsity.png')
    first = next(iter(last.values()))
    reference = random_like(first.masks, first, 0.0, torch.Generator().manual_seed(s.seed))
    names = [*last, 'random (same layers)']
    matrix = overlap_matrix([*last.values(), reference])
    overlap_heatmap(matrix, names, out / 'overlap.png', title=f'IoU of kept weights, round {k} tickets')
    lines += ['![per-layer sparsity](layer_sparsity.png)', '![overlap](overlap.png)', '',
              '## Mask overlap (IoU of kept weights)', '',
              '| | ' + ' | '.join(names) + ' |', '|---' * (len(names) + 1) + '|']
    for n, row in zip(names, matrix):
        lines.append(f'| {n} | ' + ' | '.join(f'{v:.3f}' for v in row) + ' |')
    return lines

