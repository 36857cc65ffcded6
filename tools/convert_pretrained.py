#!/usr/bin/env python
"""Convert a pre-trained ResNet-50 checkpoint to canonical backbone weights.

Reads torchvision, MoCo v2 (official), SimCLR (converted), mmpretrain and
MMSelfSup checkpoints and writes ``{'state_dict': ..., 'meta': ...}`` that the
ResNet backbones of mmpretrain, mmdet and mmseg (plain stem) load with no
missing or unexpected keys, e.g. through
``init_cfg=dict(type='Pretrained', checkpoint=DST)``.

``--model classifier`` (a torchvision file) and ``--model mocov2`` (the
official MoCo v2 file) write whole-model weights in mmpretrain's layout
instead, for ``load_from``: the pre-trained fc as the classifier head, or
MoCo's query encoder with its MLP head in both encoders, as the seed code
loads them (configs/paper/).
"""
import argparse
import sys
from pathlib import Path

from ltcv_mm.core import FORMATS, MODELS, atomic_torch_save, infer_arch, to_canonical, to_model_weights, torch_load_safe


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='pre-trained checkpoint')
    p.add_argument('dst', help='output .pth of canonical backbone weights')
    p.add_argument('--format', default='auto', choices=('auto',) + FORMATS,
                   help='layout of SRC (default: detected from its keys)')
    p.add_argument('--model', default='backbone', choices=MODELS,
                   help='backbone (default: canonical backbone weights), classifier or mocov2 (whole '
                   'mmpretrain models for load_from)')
    p.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dst = Path(args.dst)
    if dst.exists() and not args.force:
        sys.exit(f'error: {dst} already exists; pass --force to overwrite it')
    try:
        ckpt = torch_load_safe(args.src)
        if args.model == 'backbone':
            state, fmt = to_canonical(ckpt, args.format, where=args.src)
        else:
            state, fmt = to_model_weights(ckpt, args.model, args.format, where=args.src)
        shapes = {k.removeprefix('backbone.'): tuple(v.shape) for k, v in state.items()
                  if v.dim() == 4 and (args.model == 'backbone' or k.startswith('backbone.'))}
        meta = {'ltcv_source_format': fmt, 'ltcv_source_file': str(args.src), 'arch': infer_arch(shapes),
                'ltcv_model': args.model}
        atomic_torch_save({'state_dict': state, 'meta': meta}, dst)
    except (ValueError, OSError) as e:  # OSError: missing or unwritable files
        sys.exit(f'error: {e}')
    what = 'backbone' if args.model == 'backbone' else f'{args.model} model (for load_from)'
    print(f'{args.src}: read as {fmt}, wrote {len(state)} tensors of a {meta["arch"]} {what} to {dst}')


if __name__ == '__main__':
    main()
