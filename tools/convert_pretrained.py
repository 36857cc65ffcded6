#!/usr/bin/env python
"""Convert a pre-trained ResNet-50 checkpoint to canonical backbone weights.

Reads torchvision, MoCo v2 (official), SimCLR (converted), mmpretrain and
MMSelfSup checkpoints and writes ``{'state_dict': ..., 'meta': ...}`` that the
ResNet backbones of mmpretrain, mmdet and mmseg (plain stem) load with no
missing or unexpected keys, e.g. through
``init_cfg=dict(type='Pretrained', checkpoint=DST)``.
"""
import argparse
import sys
from pathlib import Path

from ltcv_mm.core import FORMATS, atomic_torch_save, infer_arch, to_canonical, torch_load_safe


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='pre-trained checkpoint')
    p.add_argument('dst', help='output .pth of canonical backbone weights')
    p.add_argument('--format', default='auto', choices=('auto',) + FORMATS,
                   help='layout of SRC (default: detected from its keys)')
    p.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dst = Path(args.dst)
    if dst.exists() and not args.force:
        sys.exit(f'error: {dst} already exists; pass --force to overwrite it')
    try:
        ckpt = torch_load_safe(args.src)
        state, fmt = to_canonical(ckpt, args.format, where=args.src)
        shapes = {k: tuple(v.shape) for k, v in state.items() if v.dim() == 4}
        meta = {'ltcv_source_format': fmt, 'ltcv_source_file': str(args.src), 'arch': infer_arch(shapes)}
        atomic_torch_save({'state_dict': state, 'meta': meta}, dst)
    except (ValueError, OSError) as e:  # OSError: missing or unwritable files
        sys.exit(f'error: {e}')
    print(f'{args.src}: read as {fmt}, wrote {len(state)} tensors of a {meta["arch"]} backbone to {dst}')


if __name__ == '__main__':
    main()
