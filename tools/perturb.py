#!/usr/bin/env python
"""Sensitivity of a ticket: its model's metric under noise on the kept weights and under random mask flips.

  perturb.py CONFIG CHECKPOINT [--ticket T] [--noise 0 0.1 ...] [--flips 0 0.01 ...]
             [--repeats 3] [--seed 0] [--out OUT.json] [--png OUT.png]

CONFIG and CHECKPOINT are what tools/test.py takes; the metric is the
config's stock test evaluator (its first metric, or --metric). The ticket is
the one the model carries (SparseBackbone), or --ticket. Noise: every kept
weight gets N(0, (s * sd)^2), sd the standard deviation of its layer's kept
weights. Flips: in every layer a fraction f of the kept weights is pruned and
as many pruned ones revived, at random (density unchanged); revived weights
take the checkpoint's values, which are zero where the checkpoint was already
masked (a fine-tuned ticket), so a flip there removes f of the kept weights
at random. Each level is drawn --repeats times (seed, seed + 1, ...).
"""
import argparse
import json
import sys
from pathlib import Path

import torch

from cli_checks import existing_file, number_in, output_file, whole_number


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--ticket', help='ticket to apply (default: the one the model carries)')
    p.add_argument('--noise', type=number_in(0, what='a noise scale'), nargs='*',
                   default=[0.0, 0.05, 0.1, 0.2, 0.5], help='relative noise scales (default: 0 0.05 0.1 0.2 0.5)')
    p.add_argument('--flips', type=number_in(0, 1, what='a fraction'), nargs='*', default=[0.0, 0.01, 0.05, 0.1, 0.2],
                   help='fractions of kept weights flipped (default: 0 0.01 0.05 0.1 0.2)')
    p.add_argument('--repeats', type=whole_number(1, 10 ** 6), default=3)
    p.add_argument('--seed', type=whole_number(0, 2 ** 62), default=0)
    p.add_argument('--metric', help='test metric to report (default: the first)')
    p.add_argument('--work-dir', help='where the runner logs (default: work_dirs/perturb)')
    p.add_argument('--out', help='JSON with every evaluation')
    p.add_argument('--png', help='plot of the metric against each perturbation')
    return p.parse_args(argv)


def _masked_root(model, ticket_path):
    """The module holding the ticket and its TicketMasks; attaches --ticket if given."""
    from ltcv_mm.core import attach_ticket, load_ticket, ticket_holders
    held = ticket_holders(model)
    if ticket_path:
        if held:
            raise ValueError(f'the model already carries a ticket ({held[0][1].what}); drop --ticket or '
                             f'use a config without SparseBackbone')
        return model, attach_ticket(model, load_ticket(ticket_path), what=ticket_path)
    if not held:
        raise ValueError('the model carries no ticket: pass --ticket')
    return held[0]


def main(argv=None):
    args = parse_args(argv)
    existing_file(args.config, 'CONFIG')
    existing_file(args.checkpoint, 'CHECKPOINT')
    existing_file(args.ticket, '--ticket')
    output_file(args.out, '--out')
    output_file(args.png, '--png')
    from mmengine.config import Config
    from mmengine.runner import Runner

    import ltcv_mm  # noqa: F401
    from ltcv_mm.analysis.perturbation import add_relative_noise, flip_masks
    from ltcv_mm.core import attach_ticket
    from ltcv_mm.hooks.runner_access import unwrap

    cfg = Config.fromfile(args.config)
    cfg.load_from = args.checkpoint
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or 'work_dirs/perturb'
    cfg.setdefault('default_scope', 'mmengine')
    runner = Runner.from_cfg(cfg)
    if runner.test_loop is None:
        sys.exit(f'error: {args.config} has no test_dataloader / test_evaluator')
    runner.call_hook('before_run')  # as Runner.test(): the logger hooks set up their files here
    runner.load_or_resume()
    model = unwrap(runner.model)
    # the checkpoint's values, as its parameters hold them (before any mask this tool attaches)
    params = dict(model.named_parameters())
    base = {n: p.detach().clone() for n, p in params.items()}
    try:
        root, masks = _masked_root(model, args.ticket)
    except (ValueError, OSError) as e:
        sys.exit(f'error: {e}')
    ticket, prefixes = masks.ticket, masks.prefixes

    def evaluate(kind: str, level: float, seed: int) -> float:
        gen = torch.Generator().manual_seed(seed)
        # in place on the layers bound when the ticket was first attached (checked then)
        attach_ticket(root, flip_masks(ticket, level, gen) if kind == 'flips' else ticket,
                      prefixes=prefixes, strict=False, what=masks.what)
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(base[n])
        if kind == 'noise':
            add_relative_noise(masks.pairs(root), level, gen)
        masks.apply(root)
        metrics = runner.test_loop.run()
        key = args.metric or next(iter(metrics))
        if key not in metrics:
            raise KeyError(f'metric {key!r} not among the test metrics {sorted(metrics)}')
        return key, float(metrics[key])

    results, key = {'noise': {}, 'flips': {}}, None
    for kind in ('noise', 'flips'):
        for level in getattr(args, kind):
            runs = 1 if level == 0 else args.repeats
            values = []
            for r in range(runs):
                try:
                    key, value = evaluate(kind, level, args.seed + r)
                except KeyError as e:  # --metric, at the first evaluation
                    sys.exit(f'error: --metric: {e.args[0]}')
                values.append(value)
            results[kind][level] = values
            mean = sum(values) / len(values)
            sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
            print(f'{kind} {level:g}: {key} = {mean:.4f} ± {sd:.4f} ({len(values)} draws)')
    attach_ticket(root, ticket, prefixes=prefixes, strict=False, what=masks.what)
    runner.call_hook('after_run')
    record = {'config': args.config, 'checkpoint': args.checkpoint, 'metric': key,
              'sparsity': ticket.sparsity, 'seed': args.seed,
              'noise': {str(k): v for k, v in results['noise'].items()},
              'flips': {str(k): v for k, v in results['flips'].items()}}
    if args.out:
        from ltcv_mm.core import atomic_write_bytes
        atomic_write_bytes(Path(args.out), json.dumps(record, indent=1).encode())
        print(f'wrote {args.out}')
    if args.png:
        from ltcv_mm.analysis.plots import sensitivity_curves
        sensitivity_curves(results, key, Path(args.png), title=f'{Path(args.checkpoint).name}, '
                           f'{100 * ticket.sparsity:.1f} % sparse')
        print(f'wrote {args.png}')


if __name__ == '__main__':
    main()
