#!/usr/bin/env python
"""CPU inference of a pruned ResNet-50 backbone (and a Faster R-CNN) against the dense masked model, side by side.

For each sparsity (one-shot global magnitude ticket on a torchvision
ResNet-50, random weights: timings do not depend on the values), the model
is exported with ``ltcv_mm.core.sparse_inference.export_sparse`` on a
calibration batch of the measured size, then the dense masked model and the
exported one run alternately, ``--repeats`` times each: minimum and median
latency, their ratio, the largest output difference, and two ceilings from
the calibration: Amdahl's (every convertible layer free) and the one the
measured per-layer speed-ups allow. ``--layers`` prints the per-layer table
(input shape, sparsity, dense and sparse time, choice). ``--detector`` adds
mmdet's Faster R-CNN R-50-FPN forward (``model._forward``, one image of
``--det-size`` px) with its backbone exported the same way.
"""
import argparse
import copy
import functools
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ltcv_mm.core import attach_ticket, detach_ticket, prune, select_prunable  # noqa: E402
from ltcv_mm.core.sparse_inference import export_sparse  # noqa: E402

SPARSITIES = (0.59, 0.79, 0.90, 0.95)


def _backbone() -> torch.nn.Module:
    net = torchvision.models.resnet50()
    net.avgpool, net.fc = torch.nn.Identity(), torch.nn.Identity()  # through layer4, as in a detector
    return net.eval()


def _latencies(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


@torch.no_grad()
def measure(make, forward, sparsity: float, repeats: int, label: str, compare=None, layers: bool = False) -> None:
    """``compare`` (default ``forward``): what must be equal; a detector's proposals after NMS can
    reorder on float noise, so its features are compared."""
    compare = compare or forward
    torch.manual_seed(0)
    dense = make()
    weights = {k: v for k, v in select_prunable(dict(dense.named_parameters())).items()}
    ticket = prune(weights, rounds=1, rate=sparsity)
    # the baseline is the dense model with its pruned weights zero and no per-forward mask: what a
    # fine-tuned ticket is once exported dense; the exported model differs only by its CSR layers
    attach_ticket(dense, ticket, strict=False)
    detach_ticket(dense)
    sparse = copy.deepcopy(dense)
    calibrate = time.perf_counter()
    choices = export_sparse(sparse, lambda: forward(sparse), repeats=3)
    calibrate = time.perf_counter() - calibrate
    diff = max(float((a - b).abs().max()) for a, b in zip(_flat(compare(dense)), _flat(compare(sparse))))
    forward(dense), forward(sparse)  # warm both
    td, ts = [], []
    for _ in range(repeats):  # alternate, so drift hits both alike
        td += _latencies(lambda: forward(dense), 1)
        ts += _latencies(lambda: forward(sparse), 1)
    total = min(td)
    convertible = sum(c.dense_s for c in choices)
    saved = sum(c.dense_s - min(c.dense_s, c.sparse_s) for c in choices)
    n_sparse = sum(c.chosen == 'sparse' for c in choices)
    share = convertible / total  # layer timings in isolation: their sum can exceed the whole forward
    amdahl = f'x{1 / (1 - share):.2f}' if share < 1 else 'unbounded (layers timed alone sum past the forward)'
    print(f'{label} {100 * ticket.sparsity:5.1f} %: dense min {1e3 * min(td):8.1f} ms median '
          f'{1e3 * statistics.median(td):8.1f} | exported min {1e3 * min(ts):8.1f} ms median '
          f'{1e3 * statistics.median(ts):8.1f} | x{min(td) / min(ts):.3f} (min), '
          f'x{statistics.median(td) / statistics.median(ts):.3f} (median) | '
          f'{n_sparse}/{len(choices)} layers sparse | ceilings: Amdahl {amdahl}, '
          f'measured layers x{total / max(total - saved, 1e-9):.3f} | max |diff| {diff:.2e} | '
          f'calibration {calibrate:.1f} s',
          flush=True)
    if layers:
        for c in choices:
            print(f'    {c.name:28s} in {str(c.input_shape):20s} {100 * c.sparsity:5.1f} % '
                  f'dense {1e3 * c.dense_s:7.2f} ms '
                  f'sparse {1e3 * c.sparse_s:7.2f} ms x{c.speedup:5.2f} -> {c.chosen}')


def _flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return []


def _detector(size: int):
    import mmdet
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope, init_default_scope

    import ltcv_mm  # noqa: F401
    cfg = Config.fromfile(str(Path(mmdet.__file__).parent / '.mim/configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmdet')

    def make():
        with DefaultScope.overwrite_default_scope('mmdet'):
            return MODELS.build(cfg.model).eval()
    from mmdet.structures import DetDataSample
    x = torch.randn(1, 3, size, size)
    shape = (size, size)
    sample = DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                                         scale_factor=(1.0, 1.0)))
    # timed: backbone, FPN, RPN proposals and RoI head; compared: the FPN features
    return make, lambda m: m._forward(x, [sample]), lambda m: m.extract_feat(x)


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    """The sweep's options, shared with bench_structured.py."""
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--batches', type=int, nargs='*', default=[1, 8], help='(none: the detector only)')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--sparsities', type=float, nargs='+', default=list(SPARSITIES))
    p.add_argument('--detector', action='store_true', help="also mmdet's Faster R-CNN forward")
    p.add_argument('--det-size', type=int, default=512)


def sweep(args, measure) -> None:
    """``measure(make, forward, sparsity, repeats, label, compare)`` for the ResNet-50 backbone at every batch
    and sparsity, then (``--detector``) for the Faster R-CNN at every sparsity, its FPN features compared."""
    for batch in args.batches:
        x = torch.randn(batch, 3, args.size, args.size)
        for s in args.sparsities:
            measure(_backbone, lambda m: m(x), s, args.repeats, f'ResNet-50 backbone b{batch} {args.size}px', None)
    if args.detector:
        make, forward, features = _detector(args.det_size)
        for s in args.sparsities:
            measure(make, forward, s, max(3, args.repeats // 3), f'Faster R-CNN b1 {args.det_size}px', features)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep_arguments(p)
    p.add_argument('--layers', action='store_true', help='print the per-layer table')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} threads')
    sweep(args, functools.partial(measure, layers=args.layers))


if __name__ == '__main__':
    main()
