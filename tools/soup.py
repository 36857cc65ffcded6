#!/usr/bin/env python
"""A sparse model soup (Zimmer et al., ICLR 2024) of runs trained under one ticket, and the soup's pruning
for the next IMP round.

  soup.py CKPT CKPT [CKPT ...] -o SOUP.pth [--ticket T]
          [--prune-rate R --next-ticket NEXT.safetensors [--strategy S]]

The copies are the last checkpoints of m runs (any OpenMMLab runner, e.g.
one config under ``MaskApplyHook(ticket=T)`` with m seeds); their ticket is
``--ticket`` or the one their checkpoints carry (MaskApplyHook's
``ltcv_ticket`` entry), the same in all. SOUP.pth holds the average of every
weight and buffer (exact zeros where the ticket prunes) and the ticket, so
that ``load_from=SOUP.pth`` with MaskApplyHook continues from the soup (the
soups paper's way). With ``--prune-rate``, the soup's backbone weights are
pruned from the ticket by an IMP strategy into NEXT: the next round's
ticket, to train from the pre-trained weights (the lottery-ticket way,
``SparseBackbone``) or from the soup. Every file is written atomically.
"""
import argparse
import sys

import torch

from ltcv_mm.core import (
    STRATEGIES,
    atomic_torch_save,
    load_ticket,
    save_ticket,
    ticket_from_bytes,
    ticket_to_bytes,
    torch_load_safe,
)
from ltcv_mm.core.soup import SoupError, average_state_dicts, prune_soup

from cli_checks import existing_file, number_in, output_file

TICKET_KEY = 'ltcv_ticket'  # MaskApplyHook's entry in a checkpoint


def _state(ckpt, path: str) -> dict:
    state = ckpt.get('state_dict') if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise SoupError(f'{path}: no state_dict (a checkpoint of an OpenMMLab runner is needed)')
    return state


def _ticket(args, checkpoints: list) -> tuple:
    carried = [ticket_from_bytes(c[TICKET_KEY].numpy().tobytes(), path=f'{p} ({TICKET_KEY})')
               if TICKET_KEY in c else None for p, c in zip(args.checkpoints, checkpoints)]
    if args.ticket:
        return load_ticket(args.ticket), args.ticket
    if any(t is None for t in carried):
        missing = next(p for p, t in zip(args.checkpoints, carried) if t is None)
        raise SoupError(f'{missing}: carries no ticket ({TICKET_KEY}); give the one it was trained under: --ticket')
    for p, t in zip(args.checkpoints[1:], carried[1:]):
        if t != carried[0]:
            raise SoupError(f'{p}: trained under another ticket than {args.checkpoints[0]}; a soup averages '
                            f'copies under one mask')
    return carried[0], f'{args.checkpoints[0]} ({TICKET_KEY})'


def make_soup(args) -> None:
    for path in args.checkpoints:
        existing_file(path, 'CKPT')
    checkpoints = [torch_load_safe(p) for p in args.checkpoints]
    ticket, where = _ticket(args, checkpoints)
    soup = average_state_dicts([_state(c, p) for c, p in zip(checkpoints, args.checkpoints)], ticket,
                               names=args.checkpoints)
    meta = dict(checkpoints[0].get('meta') or {})
    meta['soup'] = {'copies': list(args.checkpoints), 'ticket': where, 'sparsity': ticket.sparsity}
    out = {'meta': meta, 'state_dict': soup,
           TICKET_KEY: torch.frombuffer(bytearray(ticket_to_bytes(ticket)), dtype=torch.uint8)}
    atomic_torch_save(out, args.out)
    print(f'soup of {len(checkpoints)} copies under the ticket of {where} ({ticket.sparsity:.2%} sparse): {args.out}')
    if args.prune_rate is None:
        return
    nxt = prune_soup(soup, ticket, args.prune_rate, args.strategy, copies=len(checkpoints), where=args.out)
    save_ticket(nxt, args.next_ticket, overwrite=True)
    print(f'the soup pruned by {args.prune_rate:g} ({args.strategy}): round {nxt.meta["round"]}, '
          f'{nxt.sparsity:.2%} sparse: {args.next_ticket}')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoints', nargs='+', metavar='CKPT', help='the copies: last checkpoints of the runs')
    p.add_argument('-o', '--out', required=True, help='the soup checkpoint (.pth)')
    p.add_argument('--ticket', help='the ticket the copies were trained under (default: the one they carry)')
    p.add_argument('--prune-rate', type=number_in(0.0, 1.0, 'a pruning rate'),
                   help='prune this fraction of the kept weights of the soup into --next-ticket')
    p.add_argument('--next-ticket', help='where the pruned soup\'s ticket goes (.safetensors)')
    p.add_argument('--strategy', default='global_magnitude', choices=sorted(STRATEGIES))
    args = p.parse_args(argv)
    if len(args.checkpoints) < 2:
        p.error('a soup needs at least 2 checkpoints')
    if (args.prune_rate is None) != (args.next_ticket is None):
        p.error('--prune-rate and --next-ticket go together')
    existing_file(args.ticket, '--ticket')
    output_file(args.out, '-o')
    output_file(args.next_ticket, '--next-ticket')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        make_soup(args)
    except (ValueError, KeyError, OSError) as e:  # SoupError is a ValueError
        sys.exit(f'error: {e.args[0] if isinstance(e, KeyError) else e}')


if __name__ == '__main__':
    main()
