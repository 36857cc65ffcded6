#!/usr/bin/env python
"""File size of a packed ResNet-50 backbone checkpoint against the dense one, at the sparsities of issue 13.

A torchvision ResNet-50 (random weights: sizes do not depend on the values),
pruned one-shot by global magnitude to each sparsity, its pruned weights set
to zero as a fine-tuned ticket's are, saved once as a stock checkpoint
(``torch.save``) and once packed (``tools/ticket.py pack``'s format). Prints
both sizes and their ratio; the issue's target is a ratio of at most 1/6 at
90 %.
"""
import io
import sys
import tempfile
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ltcv_mm.core import prune, select_prunable, to_canonical  # noqa: E402
from ltcv_mm.core.packed_checkpoint import pack_state_dict, to_bytes  # noqa: E402


def main():
    torch.manual_seed(0)
    state, _ = to_canonical(torchvision.models.resnet50().state_dict())
    print('sparsity  dense (bytes)  packed (bytes)  ratio   1/ratio')
    for sparsity in (0.59, 0.79, 0.90, 0.95):
        ticket = prune(select_prunable(state), rounds=1, rate=sparsity)
        masked = {k: (v * ticket.masks[k] if k in ticket.masks else v) for k, v in state.items()}
        with tempfile.TemporaryDirectory() as d:
            torch.save({'state_dict': masked}, Path(d) / 'dense.pth')
            dense = (Path(d) / 'dense.pth').stat().st_size
        buf = io.BytesIO(to_bytes(*pack_state_dict(masked, ticket)))
        packed = len(buf.getvalue())
        print(f'{ticket.sparsity:8.2%}  {dense:13,d}  {packed:14,d}  {packed / dense:.3f}  {dense / packed:7.2f}')


if __name__ == '__main__':
    main()
