#!/usr/bin/env python
"""Make, inspect and exchange lottery tickets.

  prune CHECKPOINT --rounds K [--rate 0.2] [--strategy S] [--start T] -o OUT
                        K pruning steps on fixed pre-trained weights
                        (one-shot magnitude pruning for K = 1), from
                        ticket T if given; the random baseline of T:
                        --strategy random_like --start T --rate 0
  refill TICKET --weights CHECKPOINT -o OUT
                        the ticket in whole channels of each residual
                        block's inner convs (Structure-LTH's refill),
                        ranked by the weights it was drawn from
  slim TICKET --weights CHECKPOINT -o OUT.pth
                        the checkpoint's backbone cut to a refilled ticket's
                        channels, for SlimBackbone's init_cfg
  info TICKET           sparsity overall and per layer
  export TICKET -o OUT.pth
                        the seed code's flat '*.weight_mask' form
  import SEED_FILE -o OUT
                        a ticket from the seed code's masks
  overlap A B [C ...] [--png OUT.png] [--kernels]
                        IoU of kept weights, as a matrix (and a heatmap);
                        --kernels: also of the kernels pruned whole
  kernels TICKET [--png OUT.png] [--layers L ...]
                        per layer, the k x k kernels pruned whole against a
                        random mask of the same density (paper Figure 7)
  rewind-weights IMP_CHECKPOINT -o OUT.pth
                        the weights an IMP run rewinds to, as backbone
                        weights (a ticket's weights for another dataset)
  pack CHECKPOINT --ticket T -o OUT.safetensors
                        the checkpoint with the ticket's layers as kept
                        values and bit-packed masks (the rest unchanged)
  unpack PACKED -o OUT.pth
                        the stock checkpoint back, bit for bit
  plot TICKET [...] -o OUT.png
                        per-layer sparsity chart of one or more tickets
"""
import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import torch

from ltcv_mm.core import (
    STRATEGIES,
    atomic_torch_save,
    infer_arch,
    load_ticket,
    prune,
    save_ticket,
    select_prunable,
    ticket_from_seed,
    ticket_to_seed,
    to_canonical,
    torch_load_safe,
)
from ltcv_mm.core.channel_refill import refill_channels
from ltcv_mm.core.channel_slim import slim_state_dict, slim_ticket
from ltcv_mm.core.names import DEFAULT_EXCLUDE

from cli_checks import whole_number


def cmd_prune(args):
    ckpt = torch_load_safe(args.checkpoint)
    state, fmt = to_canonical(ckpt, args.format, where=args.checkpoint)
    weights = select_prunable(state, include=args.include or ('*',),
                              exclude=args.exclude if args.exclude is not None else DEFAULT_EXCLUDE)
    if not weights:
        raise ValueError(f'{args.checkpoint}: no prunable conv weight matches include='
                         f'{args.include} exclude={args.exclude}')
    if args.strategy == 'random_like' and not args.start:
        raise ValueError('random_like draws a random mask with the per-layer sparsities of a ticket: give it '
                         'with --start (without one the "random" ticket would be dense)')
    start = load_ticket(args.start) if args.start else None
    shapes = {k: tuple(v.shape) for k, v in weights.items()}
    if start is not None and start.shapes != shapes:
        raise ValueError(f'{args.start} is a ticket for {start.meta.get("arch", "?")}, but '
                         f'{args.checkpoint} holds a {infer_arch(shapes)}: the new ticket would not '
                         f'describe this checkpoint')
    # a file written by tools/convert_pretrained.py names the layout it was converted from
    converted = (ckpt.get('meta') or {}).get('ltcv_source_format') if isinstance(ckpt, dict) else None
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter('always')
        ticket = prune(weights, start, rate=args.rate, rounds=args.rounds, strategy=args.strategy,
                       generator=torch.Generator().manual_seed(args.seed),
                       meta=dict(source=args.source or converted or fmt, pretrained=str(args.checkpoint)))
    for w in said:
        print(f'warning: {w.message}', file=sys.stderr)
    _warn_if_useless(ticket, weights, args.strategy)
    save_ticket(ticket, args.out, overwrite=args.force)
    print(f'wrote {args.out}: {ticket}')


def cmd_refill(args):
    ticket = load_ticket(args.ticket)
    state, _ = to_canonical(torch_load_safe(args.weights), args.format, where=args.weights)
    missing = sorted(set(ticket.masks) - set(state))
    if missing:
        raise ValueError(f'{args.weights}: no weight for the ticket layer {missing[0]!r} ({len(missing)} missing)')
    refilled = refill_channels(ticket, {k: state[k] for k in ticket.masks})
    save_ticket(refilled, args.out, overwrite=args.force)
    print(f'wrote {args.out}: {refilled} (from {ticket.sparsity:.4%} unstructured)')


def cmd_slim(args):
    ticket = load_ticket(args.ticket)
    ckpt = torch_load_safe(args.weights)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    probe = next(iter(ticket.masks))  # a key every copy of the backbone holds, under its prefix
    prefix = args.prefix
    if prefix is None:
        prefix = next((k[:-len(probe)] for k in (state or {}) if k.endswith(probe)), None)
    if prefix is None or prefix + probe not in state:
        raise ValueError(f'{args.weights}: no {probe!r} in its state dict' + (f' under {prefix!r}' if prefix else '')
                         + ': not the weights of the ticket\'s ResNet (--prefix names the copy to cut)')
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    slim = slim_state_dict(backbone, ticket)
    for name, mask in slim_ticket(ticket).masks.items():  # the residual outputs' pruned weights: zero
        slim[name] = slim[name] * mask
    atomic_torch_save({'state_dict': slim}, args.out)
    before = sum(v.numel() for v in backbone.values() if v.is_floating_point())
    after = sum(v.numel() for v in slim.values() if v.is_floating_point())
    print(f'wrote {args.out}: the backbone under {prefix!r}, {after:,} of {before:,} values ({after / before:.1%}); '
          f'use it as SlimBackbone\'s init_cfg checkpoint with ticket={args.ticket}')


def _warn_if_useless(ticket, weights, strategy: str) -> None:
    empty = ticket.empty_layers
    if empty:
        print(f'warning: {len(empty)} of {len(ticket.masks)} layers are pruned completely (first {empty[0]!r}; '
              f'{ticket.kept} weights kept in all): no signal passes through them', file=sys.stderr)
    zero = [n for n in ticket.masks if not bool(weights[n].any())]
    if zero and 'magnitude' in strategy:
        print(f'warning: the weights of {len(zero)} layers are all exactly zero (first {zero[0]!r}): their '
              f'magnitudes tie, and which of them are pruned follows the tie rule, not the weights',
              file=sys.stderr)


def cmd_info(args):
    ticket = load_ticket(args.ticket)
    if args.json:
        print(json.dumps({'meta': ticket.meta, 'sparsity': ticket.sparsity, 'numel': ticket.numel,
                          'kept': ticket.kept, 'layers': ticket.layer_sparsity()}, indent=1))
        return
    print(f'{args.ticket}')
    for key in ('arch', 'source', 'round', 'rate', 'strategy', 'metric'):
        if ticket.meta.get(key) is not None:
            print(f'  {key:9s} {ticket.meta[key]}')
    print(f'  sparsity  {ticket.sparsity:.4%} ({ticket.numel - ticket.kept:,} of {ticket.numel:,} '
          f'prunable weights pruned, {len(ticket.masks)} layers)')
    print(f'  {"layer":34s} {"weights":>10s} {"sparsity":>9s}')
    for name, sp in ticket.layer_sparsity().items():
        print(f'  {name:34s} {ticket.masks[name].numel():10,d} {sp:9.2%}')


def _new_file(path, force: bool, inputs=()) -> Path:
    """``path``, refused (before any work) when it exists and ``--force`` was not given, and always when
    it is one of the command's ``inputs`` (``--force`` would replace what is being read)."""
    out = Path(path)
    for given in inputs:
        if out.exists() and Path(given).exists() and out.resolve() == Path(given).resolve():
            raise ValueError(f'{out} is also the input {given}: write the result to another file')
    if out.exists() and not force:
        raise FileExistsError(f'{out} already exists; pass --force to overwrite it')
    return out


def cmd_export(args):
    ticket = load_ticket(args.ticket)
    out = _new_file(args.out, args.force, inputs=(args.ticket,))
    atomic_torch_save(ticket_to_seed(ticket, args.prefix), out)
    print(f'wrote {out}: {len(ticket.masks)} "*.weight_mask" tensors')


def cmd_import(args):
    obj = torch_load_safe(args.seed_file)
    ticket = ticket_from_seed(obj, where=args.seed_file, **({'source': args.source} if args.source else {}))
    save_ticket(ticket, args.out, overwrite=args.force)
    print(f'wrote {args.out}: {ticket}')


def _same_layers(paths, tickets) -> None:
    """Refuse, before printing anything, tickets whose layers or shapes differ from the first one's."""
    for p, t in zip(paths[1:], tickets[1:]):
        if t.shapes != tickets[0].shapes:
            raise ValueError(f'{p}: its layers differ from those of {paths[0]} '
                             f'({t.meta.get("arch", "?")} against {tickets[0].meta.get("arch", "?")})')


def cmd_overlap(args):
    tickets = [load_ticket(p) for p in args.tickets]
    _same_layers(args.tickets, tickets)
    names = [Path(p).stem for p in args.tickets]
    width = max(8, *(len(n) for n in names))
    measures = [('IoU of kept weights', lambda a, b: a.overlap(b))]
    if args.kernels:
        from ltcv_mm.analysis.kernels import kernel_overlap
        measures.append(('IoU of kernels pruned whole (k x k > 1)', kernel_overlap))
    for title, measure in measures:
        print(title)
        print(' ' * width + ''.join(f' {n[:width]:>{width}s}' for n in names))
        for n, a in zip(names, tickets):
            print(f'{n:{width}s}' + ''.join(f' {measure(a, b):{width}.4f}' for b in tickets))
    if args.png:
        from ltcv_mm.analysis.plots import overlap_heatmap, overlap_matrix
        overlap_heatmap(overlap_matrix(tickets), names, Path(args.png))
        print(f'wrote {args.png}')


def cmd_kernels(args):
    from ltcv_mm.analysis.kernels import kernel_stats
    ticket = load_ticket(args.ticket)
    stats = kernel_stats(ticket)
    if not stats:
        raise ValueError(f'{args.ticket}: no layer with k x k > 1 kernels')
    print(f'{"layer":32s} {"kernels":>8s} {"sparsity %":>10s} {"whole %":>8s} {"random %":>8s} {"x chance":>8s}')
    for s in stats:
        print(f'{s.layer:32s} {s.kernels:8d} {100 * s.sparsity:10.2f} {100 * s.pruned_kernels:8.2f} '
              f'{100 * s.random_expected:8.2f} {s.excess:8.2f}')
    total = sum(s.kernels for s in stats)
    whole = sum(s.pruned_kernels * s.kernels for s in stats) / total
    chance = sum(s.random_expected * s.kernels for s in stats) / total
    print(f'all {len(stats)} layers: {100 * whole:.2f} % of {total:,} kernels pruned whole '
          f'(a random mask of the same per-layer densities: {100 * chance:.2f} %)')
    if args.png:
        from ltcv_mm.analysis.plots import kernel_heatmaps
        layers = args.layers or [stats[0].layer, stats[len(stats) // 2].layer, stats[-1].layer]
        kernel_heatmaps(ticket, layers, Path(args.png), title=Path(args.ticket).stem)
        print(f'wrote {args.png}')


def cmd_rewind_weights(args):
    """The weights an IMP run rewinds to, from one of its checkpoints, as canonical backbone weights."""
    from ltcv_mm.core.imp_run import saved_rewind_point
    out = _new_file(args.out, args.force, inputs=(args.checkpoint,))
    point = saved_rewind_point(torch_load_safe(args.checkpoint))
    if point is None:
        raise ValueError(f'{args.checkpoint}: no rewind point (not an IMPHook checkpoint, or saved before '
                         f'the rewind point was taken)')
    from ltcv_mm.core.names import strip_known_prefix
    mode, snapshot = point
    state, _ = to_canonical(strip_known_prefix(snapshot, args.prefix), 'torchvision', where=args.checkpoint)
    meta = {'ltcv_source_format': 'imp_rewind_point', 'ltcv_source_file': str(args.checkpoint),
            'rewind': mode, 'arch': infer_arch({k: tuple(v.shape) for k, v in state.items()
                                                                    if v.dim() == 4})}
    atomic_torch_save({'state_dict': state, 'meta': meta}, out)
    print(f'{args.checkpoint}: rewind point ({meta["rewind"]}) of a {meta["arch"]}, {len(state)} tensors '
          f'written to {out}')


def cmd_pack(args):
    """A fine-tuned checkpoint with the ticket's layers stored as kept values and bit-packed masks."""
    from ltcv_mm.core import atomic_write_bytes
    from ltcv_mm.core.packed_checkpoint import MASK, TRITS, PackedCheckpointError, pack_state_dict, to_bytes
    out = _new_file(args.out, args.force, inputs=(args.checkpoint, args.ticket))
    ckpt = torch_load_safe(args.checkpoint)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{args.checkpoint}: not a checkpoint (a state dict, or a dict with a state_dict); it '
                         f'holds a {type(ckpt).__name__}')
    wrapped = isinstance(ckpt.get('state_dict'), dict)
    state = ckpt['state_dict'] if wrapped else ckpt
    meta = {'source': str(args.checkpoint), 'wrapped': wrapped,
            'checkpoint_meta': ckpt.get('meta') if wrapped else None,
            'dropped': sorted(k for k in ckpt if k not in ('state_dict', 'meta')) if wrapped else []}
    try:
        tensors, metadata = pack_state_dict(state, load_ticket(args.ticket), meta=meta)
    except PackedCheckpointError as e:
        raise ValueError(f'{args.checkpoint} under {args.ticket}: {e}') from None
    atomic_write_bytes(out, to_bytes(tensors, metadata))
    before, after = Path(args.checkpoint).stat().st_size, out.stat().st_size
    packed = sum(1 for k in tensors if k.endswith((MASK, TRITS)))
    print(f'{args.checkpoint}: {len(state)} tensors, {packed} packed '
          f'under {args.ticket}; {before:,} -> {after:,} bytes ({after / before:.3f})'
          + (f'; not kept: {", ".join(meta["dropped"])}' if meta['dropped'] else ''))


def cmd_unpack(args):
    """The stock checkpoint a packed one was made from (its state dict bit for bit, and its meta)."""
    from ltcv_mm.core.packed_checkpoint import read_packed, unpack_state_dict
    out = _new_file(args.out, args.force, inputs=(args.packed,))
    tensors, metadata = read_packed(args.packed)
    state, info = unpack_state_dict(tensors, metadata, where=args.packed)
    meta = info.get('meta') or {}
    ckpt = {'meta': meta.get('checkpoint_meta'), 'state_dict': state} if meta.get('wrapped') else state
    atomic_torch_save(ckpt, out)
    print(f'{args.packed}: {len(state)} tensors restored to {out}')


def cmd_plot(args):
    from ltcv_mm.analysis.plots import layer_sparsity_chart
    tickets = [load_ticket(p) for p in args.tickets]
    _same_layers(args.tickets, tickets)
    names = [Path(p).stem for p in args.tickets]
    print('sparsity (%) per layer of: ' + ' '.join(names))
    per_layer = [t.layer_sparsity() for t in tickets]
    for layer in tickets[0].masks:
        print(f'{layer} ' + ' '.join(f'{100 * sp[layer]:.2f}' for sp in per_layer))
    layer_sparsity_chart(tickets, names, Path(args.out))
    print(f'wrote {args.out}')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)

    q = sub.add_parser('prune', help='prune fixed weights (one-shot or K steps)')
    q.add_argument('checkpoint')
    q.add_argument('-o', '--out', required=True)
    q.add_argument('--rounds', type=int, default=1)
    q.add_argument('--rate', type=float, default=0.2)
    q.add_argument('--strategy', default='global_magnitude', choices=sorted(STRATEGIES))
    q.add_argument('--start', '--reference', metavar='TICKET',
                   help='ticket to prune on from (default: all weights kept); random_like --rate 0 '
                        'draws a random ticket with its per-layer densities')
    q.add_argument('--seed', type=whole_number(0, 2 ** 63 - 2 ** 20), default=0,
                   help='seed of the random strategies')  # torch.Generator's range, less the rounds added
    q.add_argument('--format', default='auto', help='checkpoint layout (see convert_pretrained.py)')
    q.add_argument('--include', nargs='+', help='canonical-name patterns to prune (default all convs)')
    q.add_argument('--exclude', nargs='*', help=f'patterns to keep dense (default {DEFAULT_EXCLUDE})')
    q.add_argument('--source', help='pre-training recorded in the ticket (default: the checkpoint format)')
    q.add_argument('--force', action='store_true', help='overwrite OUT if it holds another ticket')
    q.set_defaults(func=cmd_prune)

    q = sub.add_parser('refill', help='the ticket in whole channels (Structure-LTH refill)')
    q.add_argument('ticket')
    q.add_argument('--weights', required=True, help='the checkpoint the ticket was drawn from (its ranking)')
    q.add_argument('-o', '--out', required=True)
    q.add_argument('--format', default='auto', help='checkpoint layout (see convert_pretrained.py)')
    q.add_argument('--force', action='store_true', help='overwrite OUT if it holds another ticket')
    q.set_defaults(func=cmd_refill)

    q = sub.add_parser('slim', help="a checkpoint's backbone cut to a refilled ticket's channels")
    q.add_argument('ticket')
    q.add_argument('--weights', required=True, help="the dense checkpoint (a run's, or backbone weights)")
    q.add_argument('-o', '--out', required=True)
    q.add_argument('--prefix', help="the backbone copy to cut, e.g. 'backbone.' (default: the first found)")
    q.set_defaults(func=cmd_slim)

    q = sub.add_parser('info', help='sparsity overall and per layer')
    q.add_argument('ticket')
    q.add_argument('--json', action='store_true')
    q.set_defaults(func=cmd_info)

    q = sub.add_parser('export', help="to the seed code's '*.weight_mask' form")
    q.add_argument('ticket')
    q.add_argument('-o', '--out', required=True)
    q.add_argument('--prefix', default='', help="prefix for the keys, e.g. 'module.'")
    q.add_argument('--force', action='store_true')
    q.set_defaults(func=cmd_export)

    q = sub.add_parser('import', help="from the seed code's masks or checkpoints")
    q.add_argument('seed_file')
    q.add_argument('-o', '--out', required=True)
    q.add_argument('--source', help='pre-training to record (supervised, simclr, moco)')
    q.add_argument('--force', action='store_true')
    q.set_defaults(func=cmd_import)

    q = sub.add_parser('overlap', help='IoU of kept weights between tickets')
    q.add_argument('tickets', nargs='+')
    q.add_argument('--png', help='also write the matrix as a heatmap')
    q.add_argument('--kernels', action='store_true',
                   help='also the IoU of the k x k kernels the tickets prune whole (the other reading '
                        "of the paper's overlap)")
    q.set_defaults(func=cmd_overlap)

    q = sub.add_parser('kernels', help='kernels pruned whole per layer, against chance (paper Fig. 7)')
    q.add_argument('ticket')
    q.add_argument('--layers', nargs='+', help='layers of the heatmap (default: first, middle, last 3x3)')
    q.add_argument('--png', help='also write per-layer heatmaps of the kernels pruned whole')
    q.set_defaults(func=cmd_kernels)

    q = sub.add_parser('rewind-weights', help="an IMP run's rewind point as backbone weights")
    q.add_argument('checkpoint', help='a checkpoint saved by a run with IMPHook')
    q.add_argument('-o', '--out', required=True)
    q.add_argument('--prefix', default='backbone.', help="the backbone's prefix in the model (default backbone.)")
    q.add_argument('--force', action='store_true')
    q.set_defaults(func=cmd_rewind_weights)

    q = sub.add_parser('pack', help='a checkpoint with the ticket\'s layers as kept values + bit masks')
    q.add_argument('checkpoint', help='a checkpoint trained under the ticket (pruned weights zero)')
    q.add_argument('--ticket', required=True)
    q.add_argument('-o', '--out', required=True, help='.safetensors file')
    q.add_argument('--force', action='store_true')
    q.set_defaults(func=cmd_pack)

    q = sub.add_parser('unpack', help='the stock checkpoint back from a packed one')
    q.add_argument('packed')
    q.add_argument('-o', '--out', required=True, help='.pth file')
    q.add_argument('--force', action='store_true')
    q.set_defaults(func=cmd_unpack)

    q = sub.add_parser('plot', help='per-layer sparsity chart')
    q.add_argument('tickets', nargs='+')
    q.add_argument('-o', '--out', required=True, help='png file')
    q.set_defaults(func=cmd_plot)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()  # here, where a reader that has gone (| head) is caught below
    except BrokenPipeError:  # stop quietly, as Unix tools do; nothing more can be printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (ValueError, KeyError, OSError) as e:  # OSError: missing, existing, unwritable files
        sys.exit(f'error: {e.args[0] if isinstance(e, KeyError) else e}')


if __name__ == '__main__':
    main()
