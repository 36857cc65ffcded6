#!/usr/bin/env python
"""CPU latency of a ResNet-50 backbone (and a Faster R-CNN) under one ticket: dense, unstructured CSR, and the
ticket refilled into channels and exported slim, side by side in one run.

For each sparsity, one global magnitude ticket is drawn on a torchvision
ResNet-50 (random weights: the timings do not depend on the values, but the
per-layer sparsities of a random init are not a pre-trained ticket's), and
refilled into whole channels (``channel_refill``). Refilling drops the last
convs' weights on dead channels, so it keeps fewer weights than the ticket;
the unstructured model is compared at the refilled ticket's count: a second
global magnitude ticket of exactly that many weights. Four models then run
alternately, ``--repeats`` times each, on the same input:

- ``dense``: the full-width model with the refilled ticket's zeros in its
  weights and no mask hook, dense kernels (zeros cost what weights cost): the
  baseline;
- ``csr``: the full-width model under the unstructured ticket of the same
  count, its sparse-enough convs exported to CSR where faster
  (``export_sparse``, calibrated on this input);
- ``slim``: the refilled ticket exported as a physically narrower ResNet
  (``narrow_resnet`` + ``slim_state_dict``), dense kernels;
- ``slim+csr``: the slim model with its residual outputs' sparse convs
  (each block's last conv and ``downsample`` keep the ticket's mask) exported
  to CSR where faster.

Printed per model: the weights kept (nonzero), the multiply-adds its convs
do on this input (a CSR layer's: its stored weights times its output
positions), min and median latency, and x = dense's min / its min. Outputs
are checked against the full-width model under the same mask (max |diff|).
``--detector`` adds mmdet's Faster R-CNN R-50-FPN forward (one image of
``--det-size`` px), its backbone under the same treatment.
"""
import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_sparse_inference import _flat, _latencies, sweep, sweep_arguments  # noqa: E402

from ltcv_mm.core import attach_ticket, detach_ticket, prune, select_prunable  # noqa: E402
from ltcv_mm.core.channel_refill import refill_channels  # noqa: E402
from ltcv_mm.core.channel_slim import narrow_resnet, slim_state_dict, widths  # noqa: E402
from ltcv_mm.core.names import split_canonical  # noqa: E402
from ltcv_mm.core.sparse_inference import CSRConv2d, export_sparse  # noqa: E402

SPARSITIES = (0.59, 0.79, 0.90, 0.95)
MODELS = ('dense', 'csr', 'slim', 'slim+csr')


def _prefix(model: torch.nn.Module) -> str:
    """Where the backbone's canonical names start in ``model`` ('' or 'backbone.')."""
    for name, p in model.named_parameters():
        split = split_canonical(name)
        if split is not None and p.dim() == 4:
            return split[0]
    raise ValueError('no ResNet conv found')


def _masked(make, ticket) -> torch.nn.Module:
    """A fresh model from ``make()`` with ``ticket``'s zeros in its weights and no mask hook."""
    torch.manual_seed(0)
    model = make()
    attach_ticket(model, ticket, strict=False)
    detach_ticket(model)
    return model.eval()


def _multiply_adds(model: torch.nn.Module, run) -> int:
    """The multiply-adds of every conv of ``model`` in one ``run()``: a dense kernel's count zeros, a CSR
    layer's only its stored weights."""
    total = []

    def count(m, inputs, out):
        if isinstance(m, CSRConv2d):
            total.append(out.numel() // m.out_channels * m.values.numel())
        else:
            total.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, CSRConv2d))]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return sum(total)


def _kept(model: torch.nn.Module) -> int:
    """Nonzero conv weights (CSR layers count their stored values)."""
    n = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            n += int(torch.count_nonzero(m.weight))
        elif isinstance(m, CSRConv2d):
            n += int(torch.count_nonzero(m.values))
    return n


def _max_diff(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(_flat(a), _flat(b)))


@torch.no_grad()
def measure(make, forward, sparsity: float, repeats: int, label: str, compare=None) -> dict:
    """Time the four models of one ticket; ``compare`` (default ``forward``): what must be equal (a
    detector's proposals after NMS can reorder on float noise, so its features are compared)."""
    compare = compare or forward
    torch.manual_seed(0)
    probe = make()
    prefix = _prefix(probe)
    weights = {k: v.detach().clone() for k, v in select_prunable(dict(probe.named_parameters()),
                                                                 prefix=prefix).items()}
    refilled = refill_channels(prune(weights, rounds=1, rate=sparsity), weights)
    unstructured = prune(weights, rounds=1, rate=1 - refilled.kept / refilled.numel)  # the same count
    models = {'dense': _masked(make, refilled), 'csr': _masked(make, unstructured)}
    unexported = copy.deepcopy(models['csr'])
    export_sparse(models['csr'], lambda: forward(models['csr']), repeats=3)
    slim = narrow_resnet(make(), refilled, prefix=prefix)
    slim.load_state_dict(slim_state_dict(models['dense'].state_dict(), refilled, prefix), strict=True)
    models['slim'] = slim.eval()
    models['slim+csr'] = copy.deepcopy(slim)
    export_sparse(models['slim+csr'], lambda: forward(models['slim+csr']), repeats=3)
    diffs = {'csr': _max_diff(compare(unexported), compare(models['csr']))}
    reference = compare(models['dense'])
    for name in ('slim', 'slim+csr'):
        diffs[name] = _max_diff(reference, compare(models[name]))
    del unexported
    macs = {name: _multiply_adds(m, lambda m=m: forward(m)) for name, m in models.items()}
    for m in models.values():
        forward(m)  # warm every model
    times = {name: [] for name in MODELS}
    for _ in range(repeats):  # alternate, so drift hits every model alike
        for name in MODELS:
            times[name] += _latencies(lambda m=models[name]: forward(m), 1)
    width = widths(refilled)
    inner = sum(width.values()) / sum(probe.get_submodule(prefix + k).out_channels for k in width)
    print(f'{label}: a {100 * sparsity:.0f} % ticket refilled to {100 * refilled.sparsity:5.2f} % '
          f'(unstructured {100 * unstructured.sparsity:5.2f} %), inner channels kept {100 * inner:5.1f} %',
          flush=True)
    base = min(times['dense'])
    for name in MODELS:
        t = times[name]
        note = f' | max |diff| {diffs[name]:.1e}' if name in diffs else ''
        print(f'    {name:9s} kept {_kept(models[name]) / 1e6:6.2f} M  MACs {macs[name] / 1e9:6.2f} G  '
              f'min {1e3 * min(t):8.1f} ms  median {1e3 * statistics.median(t):8.1f} ms  '
              f'x{base / min(t):.2f}{note}', flush=True)
    return {name: min(t) for name, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep_arguments(p)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} threads, {time.strftime("%Y-%m-%d")}')
    sweep(args, measure)


if __name__ == '__main__':
    main()
