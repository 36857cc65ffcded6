#!/usr/bin/env python
"""The GPU check: tickets on an accelerator, under AMP, in stock Runners, and what the masks cost there.

Checks, one line each (``PASS`` / ``FAIL`` / ``SKIP`` name: figures); the exit
status is 1 if any check fails:

- masks-follow-device: a SparseBackbone built on the CPU, moved to the device
  and cast to half precision, masks its own weights and gradients; a deep copy
  masks its own;
- imp-round-amp: one IMP round of the shipped supervised IMP config
  (IMPHook) with AmpOptimWrapper;
- detection-amp, segmentation-amp: SparseBackbone in the shipped Faster R-CNN
  and DeepLabV3+ transfer configs with AmpOptimWrapper (need mmcv's ops);
- mask-overhead: training steps of a full ResNet-50 classifier with the stock
  backbone and with SparseBackbone (79 % sparse), alternating in one process;
- structured-latency: inference of a full ResNet-50 backbone (fp16 autocast
  on the GPU), dense against the refilled ticket exported slim
  (``channel_slim``) at 90 % and 95 %, alternating; outputs compared.

Every run counts the pruned weights that are not zero after every step, and
every checkpoint it saved is checked against the ticket. Data are the demo's
(scikit-learn digits in COCO / VOC / ImageNet layouts); weights are random.
``--device cpu`` runs the same checks at the smallest size (the test suite
does, so that the script is ready before a GPU is at hand).
``tools/gpu_check.sh`` runs it on the accelerator machine.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ('masking', 'imp', 'detection', 'segmentation', 'overhead', 'structured')
FAILED: list[str] = []


class Skip(Exception):
    """A check that cannot run here, with the reason."""


def check(name: str, fn, *args) -> None:
    try:
        print(f'PASS {name}: {fn(*args)}', flush=True)
    except Skip as e:
        print(f'SKIP {name}: {e}', flush=True)
    except Exception as e:  # one line here, the traceback on stderr
        FAILED.append(name)
        traceback.print_exc()
        print(f'FAIL {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}', flush=True)


def settings(device: str):
    from demo.settings import DemoSettings
    if device == 'cpu':
        return DemoSettings.quick()
    # full width, a few dozen iterations per run
    return DemoSettings(width=64, feat=256, cls_size=64, scene_size=256, per_class=40, train_scenes=96,
                        val_scenes=16, imp_rounds=1, round_epochs=1, transfer_epochs=3, seg_iters=36,
                        batch_size=8, imp_rate=0.2)


def amp(cfg, device: str) -> None:
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.dtype = 'float16' if device == 'cuda' else 'bfloat16'  # mmengine: CPU autocast is bf16
    cfg.optim_wrapper.loss_scale = 'dynamic'


def zero_probe():
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    from ltcv_mm.hooks.runner_access import masked_modules

    @HOOKS.register_module(name='GPUCheckZeroProbe', force=True)
    class ZeroProbe(Hook):
        """After every iteration: pruned weights that are not zero, in every module holding a ticket."""
        priority = 'LOWEST'

        def __init__(self):
            self.nonzero, self.devices = [], set()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            held = masked_modules(runner)
            self.nonzero.append(sum(masks.count_nonzero_pruned(m) for m, masks in held))
            self.devices |= {str(mask.device) for m, masks in held for _, _, mask in masks.pairs(m)}
    return ZeroProbe


def train(cfg):
    from mmengine.runner import Runner

    from ltcv_mm.compat.cpu_runs import cpu_runs
    from ltcv_mm.hooks.runner_access import find_hook
    probe_type = zero_probe()
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='GPUCheckZeroProbe')]
    with cpu_runs(cfg):  # as tools/train.py: AMP on the CPU where there is no accelerator (--device cpu)
        runner = Runner.from_cfg(cfg)
        runner.train()
    probe = find_hook(runner, probe_type)
    if not probe.nonzero or set(probe.nonzero) != {0}:
        raise AssertionError(f'pruned weights not zero after some steps: {probe.nonzero}')
    return runner, probe


def checkpoints_hold(work: Path, ticket: Path) -> str:
    """Every checkpoint under ``work``: zeros exactly where the ticket prunes."""
    from demo.runs import kept_zeros
    from ltcv_mm.core import load_ticket
    sparsity = load_ticket(ticket).sparsity
    found = sorted(work.glob('*.pth'))
    if not found:
        raise AssertionError(f'no checkpoint in {work}')
    for ckpt in found:
        zeros = kept_zeros(ckpt, ticket)
        if abs(zeros - sparsity) > 1e-9:
            raise AssertionError(f'{ckpt.name}: zeros at {zeros:.4%} of the weights the ticket prunes '
                                 f'({sparsity:.4%})')
    return f'{len(found)} checkpoint(s) zero where pruned'


class Setup:
    """Data, random 'pre-trained' weights and a ticket, written once for all checks."""

    def __init__(self, work: Path, device: str) -> None:
        import torch
        from mmpretrain.models.backbones import ResNet

        from demo.main import Demo
        from ltcv_mm.core import prune, save_ticket, select_prunable
        self.work, self.device, self.s = work, device, settings(device)
        self.data = work / 'data'
        Demo(work, self.s, None).stage_data()
        torch.manual_seed(0)
        w = self.s.width
        stock = ResNet(depth=50, stem_channels=w, base_channels=w, out_indices=(3,))
        self.pretrained = work / 'pretrained.pth'
        torch.save({'state_dict': stock.state_dict()}, self.pretrained)
        weights = select_prunable(dict(stock.named_parameters()))
        self.ticket = save_ticket(prune(weights, rounds=4), work / 'ticket.safetensors', overwrite=True)


def check_masking(st: Setup) -> str:
    import torch
    from mmengine.registry import DefaultScope

    from ltcv_mm.core import load_ticket
    from ltcv_mm.registry import MODELS
    w = st.s.width
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = MODELS.build(dict(type='ltcv.SparseBackbone', ticket=str(st.ticket), backbone=dict(
            type='mmpretrain.ResNet', depth=50, stem_channels=w, base_channels=w, out_indices=(3,))))
    backbone.to(st.device)
    masks = backbone.ltcv_masks
    devices = {str(m.device) for _, _, m in masks.pairs(backbone)}
    if devices != {str(torch.device(st.device, 0) if st.device == 'cuda' else st.device)}:
        raise AssertionError(f'masks on {devices}')
    half = torch.float16 if st.device == 'cuda' else torch.bfloat16
    twin = copy.deepcopy(backbone).to(half)
    with torch.no_grad():
        for p in twin.parameters():
            p.fill_(0.01)
    out = twin(torch.randn(4, 3, 64, 64, device=st.device, dtype=half))
    out[-1].float().sum().backward()
    pairs = twin.ltcv_masks.pairs(twin)
    bad_w = sum(int((p[m == 0] != 0).sum()) for _, p, m in pairs)
    bad_g = sum(int((p.grad[m == 0] != 0).sum()) for _, p, m in pairs)
    untouched = masks.count_nonzero_pruned(backbone) == 0 and all(p.grad is None for p in backbone.parameters())
    if bad_w or bad_g or not untouched:
        raise AssertionError(f'{bad_w} weights, {bad_g} gradients not zero where pruned; original untouched: '
                             f'{untouched}')
    return (f'{len(masks)} masks on {devices.pop()} after .to(); a {str(half)[6:]} deep copy zeroes its own '
            f'weights and gradients ({load_ticket(st.ticket).sparsity:.1%} sparse), original untouched')


def check_imp(st: Setup) -> str:
    from demo import runs
    from ltcv_mm.core import load_ticket
    from ltcv_mm.core.imp_record import RunRecord
    work = st.work / 'imp'
    cfg = runs.imp_config(st.s, 'supervised', st.data, work, st.pretrained, st.pretrained)
    cfg.load_from = None
    amp(cfg, st.device)
    runner, probe = train(cfg)
    ticket = Path(RunRecord.of_work_dir(work).ticket_path(1))
    sparsity = load_ticket(ticket).sparsity
    scale = float(runner.optim_wrapper.loss_scaler.get_scale())
    return (f'{len(probe.nonzero)} AMP steps ({runner.optim_wrapper.cast_dtype}), 0 pruned weights off zero '
            f'after every step, masks on {sorted(probe.devices)}, round-1 ticket {sparsity:.1%} sparse, loss '
            f'scale {scale:g}; ' + checkpoints_hold(work, ticket))


def check_transfer(st: Setup, task: str) -> str:
    try:
        import mmcv.ops  # noqa: F401
        from mmcv.ops import nms  # noqa: F401
    except Exception as e:
        raise Skip(f"mmcv's compiled ops are not importable ({type(e).__name__}): build mmcv with its ops for "
                   'this GPU (tools/gpu_check.sh does, within a time limit)')
    from demo import runs
    work = st.work / task
    cfg = runs.transfer_config(st.s, task, 'supervised', st.data, work, st.pretrained, st.ticket, 'ticket', 0)
    # mmcv's CPU nms has no bfloat16 kernel: a detector under CPU autocast fails in its RPN
    with_amp = st.device == 'cuda' or task != 'detection'
    if with_amp:
        amp(cfg, st.device)
    runner, probe = train(cfg)
    metrics = runs._last_val_metrics(runner)
    key = 'coco/bbox_mAP_50' if task == 'detection' else 'mIoU'
    return (f'{len(probe.nonzero)} {"AMP" if with_amp else "fp32 (no bf16 nms on the CPU)"} steps, 0 pruned '
            f'weights off zero after every step, masks on '
            f'{sorted(probe.devices)}, {key} {metrics.get(key)}; ' + checkpoints_hold(work, st.ticket))


def check_overhead(st: Setup) -> str:
    import torch
    from mmengine.optim import AmpOptimWrapper
    from mmengine.registry import DefaultScope
    from mmpretrain.structures import DataSample

    from ltcv_mm.compat.cpu_amp import cpu_amp
    from ltcv_mm.core import prune, save_ticket, select_prunable
    from ltcv_mm.registry import MODELS
    cuda = st.device == 'cuda'
    width, size, batch = (64, 224, 32) if cuda else (8, 64, 4)
    blocks, steps, warmup = (6, 10, 5) if cuda else (2, 2, 1)
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    weights = select_prunable(dict(ResNet(depth=50, stem_channels=width, base_channels=width).named_parameters()))
    ticket = save_ticket(prune(weights, rounds=7), st.work / 'ticket79.safetensors', overwrite=True)
    backbone = dict(type='ResNet', depth=50, stem_channels=width, base_channels=width)
    models, wrappers = {}, {}
    for kind in ('stock', 'sparse'):
        b = backbone if kind == 'stock' else dict(backbone, type='ltcv.SparseBackbone', wraps='ResNet',
                                                  ticket=str(ticket))
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(dict(
                type='mmpretrain.ImageClassifier', backbone=b, neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=10, in_channels=width * 32),
                data_preprocessor=dict(num_classes=10, mean=[127.5] * 3, std=[64.0] * 3)))
        models[kind] = model.to(st.device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        with cpu_amp():  # the CPU scaler where there is no accelerator (--device cpu); stock on a GPU
            wrappers[kind] = AmpOptimWrapper(optimizer=opt, dtype='float16' if cuda else 'bfloat16')
    data = dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8) for _ in range(batch)],
                data_samples=[DataSample().set_gt_label(i % 10) for i in range(batch)])

    def run(kind: str, n: int) -> list[float]:
        out = []
        for _ in range(n):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            models[kind].train_step(copy.copy(data), wrappers[kind])
            if cuda:
                torch.cuda.synchronize()
            out.append(time.perf_counter() - t0)
        return out
    for kind in models:
        run(kind, warmup)
    times = {k: [] for k in models}
    for block in range(blocks):  # alternate, and alternate which goes first
        for kind in (('stock', 'sparse') if block % 2 == 0 else ('sparse', 'stock')):
            times[kind] += run(kind, steps)
    masks = models['sparse'].backbone.ltcv_masks
    if masks.count_nonzero_pruned(models['sparse'].backbone):
        raise AssertionError('pruned weights off zero after the timed steps')
    med = {k: statistics.median(v) for k, v in times.items()}
    return (f'ResNet-50 (width {width}) classifier, batch {batch} at {size} px, AMP, {blocks * steps} steps each: '
            f'stock {med["stock"] * 1e3:.2f} ms, SparseBackbone {med["sparse"] * 1e3:.2f} ms per step '
            f'({med["sparse"] / med["stock"] - 1:+.2%})')


def check_structured(st: Setup) -> str:
    import torch
    import torchvision

    from ltcv_mm.core import attach_ticket, detach_ticket, prune, select_prunable
    from ltcv_mm.core.channel_refill import refill_channels
    from ltcv_mm.core.channel_slim import narrow_resnet, slim_state_dict
    cuda = st.device == 'cuda'
    size, batches, repeats = (224, (1, 8, 32), 20) if cuda else (64, (1, 2), 2)

    def backbone():
        torch.manual_seed(0)
        net = torchvision.models.resnet50()
        net.avgpool, net.fc = torch.nn.Identity(), torch.nn.Identity()
        return net.eval()
    out = []
    for sparsity in (0.90, 0.95):
        dense = backbone()
        weights = {k: v.detach().clone() for k, v in select_prunable(dict(dense.named_parameters())).items()}
        ticket = refill_channels(prune(weights, rate=sparsity), weights)
        attach_ticket(dense, ticket)
        detach_ticket(dense)
        slim = narrow_resnet(backbone(), ticket)
        slim.load_state_dict(slim_state_dict(dense.state_dict(), ticket), strict=True)
        models = {'dense': dense.to(st.device), 'slim': slim.eval().to(st.device)}
        for batch in batches:
            x = torch.randn(batch, 3, size, size, device=st.device)

            @torch.no_grad()
            def run(model):
                """(seconds, output) of one forward."""
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                with torch.autocast(st.device, dtype=torch.float16, enabled=cuda):
                    y = model(x)
                if cuda:
                    torch.cuda.synchronize()
                return time.perf_counter() - t0, y.float()
            outs = {k: run(m)[1] for k, m in models.items()}  # also warms up (cuDNN picks its kernels)
            times = {k: [] for k in models}
            for _ in range(repeats):  # alternate, so drift hits both alike
                for k, m in models.items():
                    times[k].append(run(m)[0])
            diff = float((outs['dense'] - outs['slim']).abs().max() / outs['dense'].abs().max().clamp_min(1e-12))
            if diff > (2e-2 if cuda else 1e-4):
                raise AssertionError(f'slim and dense differ by {diff:.2e} (relative) at {ticket.sparsity:.1%}')
            d, sl = min(times['dense']), min(times['slim'])
            out.append(f'{ticket.sparsity:.1%} b{batch}: dense {d * 1e3:.2f} ms, slim {sl * 1e3:.2f} ms '
                       f'(x{d / sl:.2f})')
    return f'ResNet-50 backbone at {size} px, min of {repeats}: ' + '; '.join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', choices=['cuda', 'cpu'], default='cuda')
    p.add_argument('--parts', default=','.join(PARTS), help=f'comma-separated, of {PARTS}')
    p.add_argument('--work-dir', help='where runs go (default: a temporary folder)')
    args = p.parse_args()
    parts = [x for x in args.parts.split(',') if x]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f'unknown parts {unknown}; choose from {PARTS}')
    sys.path.insert(0, str(ROOT))
    import torch

    import ltcv_mm  # noqa: F401
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('FAIL device: no CUDA device visible to torch', torch.__version__)
        return 1
    where = torch.cuda.get_device_name(0) if args.device == 'cuda' else 'CPU'
    print(f'INFO device: {where}; torch {torch.__version__}', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        t0 = time.time()
        st = Setup(work, args.device)
        print(f'INFO setup: data, weights and ticket in {time.time() - t0:.1f} s', flush=True)
        todo = {'masking': (check_masking, st), 'imp': (check_imp, st),
                'detection': (check_transfer, st, 'detection'),
                'segmentation': (check_transfer, st, 'segmentation'), 'overhead': (check_overhead, st),
                'structured': (check_structured, st)}
        names = {'masking': 'masks-follow-device', 'imp': 'imp-round-amp', 'detection': 'detection-amp',
                 'segmentation': 'segmentation-amp', 'overhead': 'mask-overhead',
                 'structured': 'structured-latency'}
        for part in parts:
            t0 = time.time()
            check(names[part], *todo[part])
            print(f'INFO {names[part]}: {time.time() - t0:.1f} s', flush=True)
    return 1 if FAILED else 0


if __name__ == '__main__':
    sys.exit(main())
