#!/usr/bin/env python
"""IMP, gradual magnitude pruning, IMP with sparse soups and IMP with channel refill, side by side in the
demo's setting: the metric on the pre-training task, the training cost, and the transfer.

In a demo work folder (``--work``; a finished ``tools/demo.py --evidence`` run
is reused, anything missing is run, with the evidence settings for a new
folder), for each pre-training and each IMP round k of ``--rounds``
(default 3 and 5: 83.4 % and 95.0 % at the demo's rate):

- ``imp``: the demo's IMP ticket of round k (its cost: rounds 0..k);
- ``gmp``: one GMP run to k's sparsity from the same start, in
  ``--gmp-share`` of IMP's optimizer steps to k (``demo.methods.run_gmp``);
- ``soup``: IMP with ``--copies`` copies a round, the soup pruned;
- ``refill``: IMP with refill into whole channels (its ticket is slightly
  sparser than IMP's: refilling drops the last convs' weights on dead
  channels).

``--lr`` trains every method, and IMP itself (run again, in
``methods/lrLR/``), at another rate: at the IMP config's 1e-4 the kept
weights barely move in the demo's short rounds, so every magnitude method
finds the same ticket. ``--no-transfer`` stops after the pre-training side.

Each method's ticket is fine-tuned for detection and segmentation through
the demo's transfer configs on the demo's seeds, beside the demo's dense,
IMP-ticket and random-mask cells of round k; every method's cell is compared
with IMP's ticket seed by seed (``demo.verdicts``: mean difference and its
95 % interval). Writes ``methods/report.md`` and ``methods/results.json`` in
the work folder and prints the report.
"""
import argparse
import dataclasses
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo import cpu_kernels  # noqa: E402

cpu_kernels.pin()  # before torch loads: the demo's sums, without which no run here pairs with the demo's
from demo import methods, runs  # noqa: E402
from demo.layout import DemoLayout, TransferJob  # noqa: E402
from demo.main import Demo, _fine_tune  # noqa: E402
from demo.progress import Progress  # noqa: E402
from demo.report import table_scale  # noqa: E402
from demo.settings import DemoSettings, read_saved  # noqa: E402
from demo.verdicts import Cell, difference  # noqa: E402
from ltcv_mm.core import atomic_write_bytes, load_ticket  # noqa: E402


@dataclasses.dataclass(frozen=True)
class MethodJob:
    """One fine-tuning of a method's ticket of IMP round ``round``."""
    method: str
    task: str
    pretraining: str
    round: int
    seed: int

    @property
    def key(self) -> str:
        return f'{self.method}/{self.task}/{self.pretraining}/round{self.round}/seed{self.seed}'


def _find(layout: DemoLayout, s: DemoSettings, args, job: tuple[str, str]) -> dict:
    """A worker's job: run one method on one pre-training (or read it back)."""
    method, p = job
    rounds, lr = tuple(args.rounds), args.lr
    done = methods.read(layout, method, p, lr)
    if done is not None and all(k in done for k in rounds):
        return done
    if method == 'imp':  # with --lr: IMP itself at that rate
        return methods.run_imp(layout, s, p, tuple(range(1, s.imp_rounds + 1)), lr)
    if method == 'gmp':
        return methods.run_gmp(layout, s, p, rounds, args.gmp_share, lr)
    if method == 'soup':
        return methods.run_soup(layout, s, p, rounds, args.copies, lr)
    return methods.run_refill(layout, s, p, rounds, lr)


def _fine_tune_method(layout: DemoLayout, s: DemoSettings, lr: float | None, job: MethodJob) -> dict:
    """A worker's job: the demo's transfer config under the method's ticket (SparseBackbone, mode ticket)."""
    ticket = Path(methods.read(layout, job.method, job.pretraining, lr)[job.round]['ticket'])
    work = methods.method_dir(layout, job.method, job.pretraining, lr) / 'transfer' / job.task / \
        f'round{job.round:02d}' / f'seed{job.seed}'
    cfg = runs.transfer_config(s, job.task, job.pretraining, layout.data, work, layout.pretrained(job.pretraining),
                               ticket, 'ticket', job.seed)
    return runs.run(cfg, work, dict(stage='transfer', method=job.method, task=job.task, pretraining=job.pretraining,
                                    round=job.round, seed=job.seed, metric=runs.METRIC[job.task]))


def _settings(work: Path, quick: bool) -> DemoSettings:
    saved = read_saved(DemoLayout.of(work).settings)
    if saved is not None:
        return DemoSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    return DemoSettings.quick() if quick else DemoSettings.evidence()


def _cell(values: dict[int, float], scale: float) -> Cell:
    return Cell.of([scale * v for v in values.values()], list(values))


def report(layout: DemoLayout, s: DemoSettings, args, found: dict, cells: dict, tasks: tuple[str, ...]) -> str:
    """The comparison as markdown: per pre-training and round, one row per method."""
    rate = 'the IMP config\'s (1e-4)' if args.lr is None else f'{args.lr:g}, every method and IMP itself'
    lines = [f'# Ticket methods in the demo\'s setting ({time.strftime("%Y-%m-%d")})', '',
             f'Work folder `{layout.work}`; learning rate {rate}; seeds {s.seed_list()}; '
             f'GMP in {args.gmp_share:.3g} of IMP\'s steps; '
             f'soups of {args.copies} copies. '
             + ('Transfer: mean ± sd over seeds (detection: COCO bbox mAP@50 x100, segmentation: mIoU %); Δ: the '
                'cell − IMP\'s ticket, paired by seed, with its 95 % interval.' if tasks else 'No transfer.'), '']
    for p in args.pretrainings:
        for k in args.rounds:
            lines += [f'## {p}, IMP round {k}', '',
                      '| method | sparsity | IoU with IMP\'s ticket | pre-training metric | optimizer steps (x IMP) | '
                      'seconds |' + ''.join(f' {t} | Δ {t} vs IMP |' for t in tasks),
                      '|---|---|---|---|---|---|' + '---|---|' * len(tasks)]
            imp = found['imp'][p][k]
            imp_ticket = load_ticket(imp['ticket'])
            for name in ('dense', 'random', 'imp', *args.methods):
                row = found.get(name, {}).get(p, {}).get(k)
                if row:
                    metric = f'{row["metric"]:.2f}'
                    if name == 'soup':  # and what its copies score alone: a single run's spread
                        alone = methods.copy_metrics(layout, p, k, args.lr)
                        metric += f' (copies alone {statistics.mean(alone):.2f} ± {statistics.stdev(alone):.2f})' \
                            if len(alone) > 1 else ''
                    iou = load_ticket(row['ticket']).overlap(imp_ticket)
                    head = (f'| {name} | {100 * row["sparsity"]:.2f} % | {iou:.4f} | {metric} | {row["steps"]} '
                            f'(x{row["steps"] / imp["steps"]:.2f}) | {row["seconds"]:.1f} |')
                elif not tasks or (name == 'random' and args.lr is not None):
                    continue  # no transfer cells; or random masks of the demo's own IMP's tickets
                else:  # the reference cells: no ticket search of their own
                    sparsity = 0.0 if name == 'dense' else imp['sparsity']
                    head = f'| {name} | {100 * sparsity:.2f} % | | | | |'
                parts = []
                for task in tasks:
                    c, ref = cells.get((name, task, p, k)), cells.get(('imp', task, p, k))
                    if c is None:
                        parts += ['', '']
                        continue
                    cell = _cell(c, table_scale(task))
                    parts.append(f'{cell.mean:.2f} ± {cell.std:.2f}')
                    parts.append('' if name == 'imp' or ref is None else _delta(cell, _cell(ref, table_scale(task))))
                lines.append(head + ''.join(f' {part} |' for part in parts))
            lines.append('')
    return '\n'.join(lines)


def _delta(cell: Cell, ref: Cell) -> str:
    d = difference(cell, ref)
    lo, hi = d.interval
    word = 'above' if lo > 0 else 'below' if hi < 0 else 'within noise'
    return f'{d.mean:+.2f} [{lo:+.2f}, {hi:+.2f}] {word}'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work', required=True, help='a demo work folder (an --evidence run is reused)')
    p.add_argument('--quick', action='store_true', help='for a new folder: the demo\'s --quick settings (a check)')
    p.add_argument('--pretrainings', nargs='+', default=['supervised', 'simclr'], choices=runs.STOCK_PRETRAIN)
    p.add_argument('--rounds', type=int, nargs='+', default=[3, 5])
    p.add_argument('--methods', nargs='+', default=list(methods.METHODS), choices=methods.METHODS)
    p.add_argument('--copies', type=int, default=3, help='copies a soup round averages')
    p.add_argument('--gmp-share', type=float, default=1 / 3, help="GMP's steps as a share of IMP's to the round")
    p.add_argument('--lr', type=float, help="every method's learning rate, IMP's included (rerun at it); "
                   "default: the IMP config's")
    p.add_argument('--no-transfer', action='store_true', help='the pre-training side only')
    p.add_argument('--workers', type=int, default=2)
    args = p.parse_args(argv)
    work = Path(args.work)
    s = _settings(work, args.quick)
    missing = set(args.pretrainings) - set(s.pretrainings)
    bad = [k for k in args.rounds if not 1 <= k <= s.imp_rounds]
    if missing or bad:
        p.error(f'{work}: its demo runs pre-trainings {s.pretrainings} and IMP rounds 1..{s.imp_rounds}')
    layout = DemoLayout.of(work)
    demo = Demo(work, s, workers=args.workers)
    demo._check_settings()
    demo.stage_data()
    seeds = s.seed_list()
    tasks = () if args.no_transfer else s.tasks
    # with --lr, IMP itself runs again at that rate, and the demo's IMP cells (and their random masks) do not pair
    ref_modes = ('dense', 'ticket', 'random') if args.lr is None else ('dense',)
    names = (('imp',) if args.lr is not None else ()) + tuple(args.methods)
    ref_jobs = [TransferJob(t, p_, m, k if m != 'dense' else 0, seed) for t in tasks for p_ in args.pretrainings
                for k in args.rounds for m in ref_modes for seed in seeds]
    ref_jobs = list(dict.fromkeys(ref_jobs))  # dense once per seed
    method_jobs = [MethodJob(m, t, p_, k, seed) for m in names for t in tasks for p_ in args.pretrainings
                   for k in args.rounds for seed in seeds]
    plan = [(f'pretrain/{p_}', 15.0) for p_ in s.pretrainings] + [(f'imp/{p_}', 15.0) for p_ in s.pretrainings]
    plan += [(f'{m}/{p_}', 15.0 * (args.copies if m == 'soup' else 1)) for m in names
             for p_ in args.pretrainings]
    plan += [(j.key, 10.0) for j in ref_jobs + method_jobs]
    progress = Progress(plan, parallel=args.workers)
    found, cells = {}, {}

    def found_by(job, t, result):
        method, p_ = job
        found.setdefault(method, {})[p_] = result
        progress.finish(f'{method}/{p_}', t, False)

    kernels = cpu_kernels.current()

    def keep(name, job, result, rounds):
        if result.get('cpu_kernels') != kernels:  # another machine's sums: seed-by-seed pairs mean nothing
            raise SystemExit(f'{Path(result["checkpoint"]).parent}: computed with the CPU kernels '
                             f'{result.get("cpu_kernels")}, this run pins {kernels} (demo/cpu_kernels.py); remove '
                             f'the run to redo it here, or set the same pins')
        for k in rounds:
            cells.setdefault((name, job.task, job.pretraining, k), {})[job.seed] = result['metrics'][
                runs.METRIC[job.task]]

    ref_name = {'dense': 'dense', 'ticket': 'imp', 'random': 'random'}

    def ref_done(job, t, result):  # a dense cell stands beside every round
        keep(ref_name[job.mode], job, result, [job.round] if job.round else args.rounds)
        if t is not None:
            progress.finish(job.key, t, False)

    def method_done(job, t, result):
        keep(job.method, job, result, [job.round])
        progress.finish(job.key, t, False)

    with demo.pool:
        demo.stage_pretrain(progress)
        demo.stage_imp(progress)
        find = partial(_find, layout, s, args)
        if args.lr is not None:  # first: the others take IMP's counts and steps from it
            demo.pool.run_all([('imp', p_) for p_ in args.pretrainings], find,
                              lambda j: progress.start(f'{j[0]} on {j[1]}'), found_by)
        found['imp'] = {p_: methods.imp_costs(layout, s, p_, args.lr) for p_ in args.pretrainings}
        demo.pool.run_all([(m, p_) for m in args.methods for p_ in args.pretrainings], find,
                          lambda j: progress.start(f'{j[0]} on {j[1]}'), found_by)
        todo = [j for j in ref_jobs if not runs.is_done(layout.transfer_dir(j))]
        for j in ref_jobs:
            if j not in todo:
                ref_done(j, None, runs.read_result(layout.transfer_dir(j)))
        demo.pool.run_all(todo, partial(_fine_tune, layout, s), lambda j: progress.start(j.key), ref_done)
        demo.pool.run_all(method_jobs, partial(_fine_tune_method, layout, s, args.lr),
                          lambda j: progress.start(j.key), method_done)
    text = report(layout, s, args, found, cells, tasks)
    out = work / 'methods' / ('' if args.lr is None else f'lr{args.lr:g}')
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / 'report.md', (text + '\n').encode())
    atomic_write_bytes(out / 'results.json', json.dumps(
        {'found': found, 'cells': [dict(method=m, task=t, pretraining=p_, round=k, values=v)
                                   for (m, t, p_, k), v in cells.items()]}, indent=1).encode())
    print(text)


if __name__ == '__main__':
    main()
