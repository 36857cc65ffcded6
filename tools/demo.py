#!/usr/bin/env python
"""The smallest real end-to-end run of the ticket core (until the full demo lands).

Writes a randomly initialised ResNet-50 in torchvision's file layout, converts
it to canonical backbone weights, runs three global magnitude IMP steps on
them (rate 0.2), saves one ticket per round, and prints each ticket's info,
the overlap between rounds and a random baseline with the same per-layer
densities. Everything goes to ./demo_work (or --work-dir).
"""
import argparse
import time
from pathlib import Path

import torch
import torchvision

from ltcv_mm.core import (Ticket, atomic_torch_save, get_strategy, load_ticket, random_like,
                          save_ticket, select_prunable, to_canonical)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--work-dir', default='demo_work')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--rate', type=float, default=0.2)
    args = p.parse_args()
    work = Path(args.work_dir)
    t0 = time.time()

    torch.manual_seed(0)
    src = work / 'resnet50_random_torchvision.pth'
    atomic_torch_save(torchvision.models.resnet50().state_dict(), src)
    state, fmt = to_canonical(torch.load(src, weights_only=True))
    print(f'[1/3] wrote {src} and read it back as {fmt}: {len(state)} backbone tensors')

    weights = select_prunable(state)
    ticket = Ticket.dense(weights, arch='resnet50', source='random-init demo')
    step = get_strategy('global_magnitude')
    paths = []
    for r in range(1, args.rounds + 1):
        ticket = step(weights, ticket, args.rate)
        path = save_ticket(ticket, work / f'ticket_round{r}.safetensors', overwrite=True)
        paths.append(path)
        back = load_ticket(path)
        print(f'[2/3] round {r}: sparsity {back.sparsity:.2%} (0.8^{r} density = {0.8 ** r:.4f}), '
              f'{path.stat().st_size / 2**20:.2f} MiB, '
              f'{path.stat().st_size * 8 / back.numel:.3f} bits/weight -> {path}')
    last = load_ticket(paths[-1])
    rnd = random_like(last, torch.Generator().manual_seed(0))
    print(f'[3/3] overlap (IoU of kept weights): round1-round{args.rounds} '
          f'{load_ticket(paths[0]).overlap(last):.3f}, ticket vs random with the same per-layer '
          f'densities {last.overlap(rnd):.3f}, ticket vs reverse {last.overlap(last.reverse()):.3f}')
    print('  per-layer sparsity of the last ticket (first and last layers):')
    layers = list(last.layer_sparsity().items())
    for name, sp in layers[:3] + layers[-3:]:
        print(f'    {name:30s} {sp:.2%}')
    print(f'done in {time.time() - t0:.1f} s; inspect with: .venv/bin/python tools/ticket.py info {paths[-1]}')


if __name__ == '__main__':
    main()
