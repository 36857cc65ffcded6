#!/usr/bin/env python
"""Metric against sparsity of an IMP run, with its dense baseline (round 0).

  analyze_imp.py WORK_DIR [--metric NAME] [--tolerance T] [--png OUT.png]

Reads WORK_DIR/tickets/imp_summary.json (IMPHook), prints a table of every
round and names the highest sparsity whose metric still matches the dense
one within T (in the metric's own units: 0.5 for half a point of accuracy
in percent). Runs without validation (SimCLR, MoCo) are judged by their
train loss, where lower is better.
"""
import argparse
import sys
from pathlib import Path

from ltcv_mm.analysis.imp_summary import read_curve

from cli_checks import number_in, output_file


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('work_dir', help='the IMP run work_dir, its tickets/ folder, or imp_summary.json')
    p.add_argument('--metric', help='metric to judge (default: the one IMPHook recorded)')
    p.add_argument('--tolerance', type=number_in(0), default=0.0, help='allowed drop below dense (default 0)')
    p.add_argument('--png', help='also plot the curve to this file')
    args = p.parse_args(argv)
    output_file(args.png, '--png')
    try:
        curve = read_curve(args.work_dir, args.metric)
    except (ValueError, KeyError, FileNotFoundError) as e:
        sys.exit(f'error: {e.args[0] if isinstance(e, KeyError) else e}')
    print(f'{curve.path}: {curve.name} ({"higher" if curve.higher_is_better else "lower"} is better), '
          f'tolerance {args.tolerance:g}')
    print(f'{"round":>5} {"sparsity %":>10} {curve.name:>16}  matches dense')
    for i, (r, s, v) in enumerate(zip(curve.rounds, curve.sparsity, curve.values)):
        mark = 'dense' if i == 0 else ('yes' if curve.matches_dense(v, args.tolerance) else 'no')
        print(f'{r:5d} {100 * s:10.2f} ' + (f'{v:16.4f}' if v is not None else f'{"n/a (null)":>16}') + f'  {mark}')
    best = curve.winning(args.tolerance)
    if best is None:
        print(f'no pruned round matches the dense {curve.name} ({curve.dense:.4f}) within {args.tolerance:g}')
    else:
        print(f'highest sparsity matching dense: {100 * curve.sparsity[best]:.2f} % (round {curve.rounds[best]}, '
              f'{curve.name} {curve.values[best]:.4f} vs dense {curve.dense:.4f}); ticket {curve.tickets[best]}')
    if args.png:
        from ltcv_mm.analysis.plots import metric_curves
        metric_curves({'IMP': [(100 * s, v) for s, v in zip(curve.sparsity[1:], curve.values[1:]) if v is not None]},
                      Path(args.png), curve.name, title=str(curve.path.parent), dense={'IMP': curve.dense})
        print(f'wrote {args.png}')


if __name__ == '__main__':
    main()
