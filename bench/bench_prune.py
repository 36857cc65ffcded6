#!/usr/bin/env python
"""One global IMP step on ResNet-50: ltcv_mm against torch.nn.utils.prune, side by side.

Prints the time of one global magnitude step (20 % of the remaining weights),
from dense (round 1) and after two earlier steps (round 3, masks in play), the extra peak memory each
method needs on top of the model, and the ticket file's bits per prunable
weight. Each measurement runs in its own fresh process so peaks do not mix;
the runs alternate between the two methods. Each process makes five calls:
the first is timed cold (a fresh process), the second measures peak memory
(after handing freed heap memory back to the system, with an RSS poller that
would distort timings), the last three are timed warm, as IMP runs one step
per round in a long-lived process. The oracle prunes a fresh copy each call.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r'''
import json, os, sys, threading, time, types
import torch, torchvision
torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
root = sys.argv[2]
pkg = types.ModuleType("ltcv_mm"); pkg.__path__ = [os.path.join(root, "ltcv_mm")]; sys.modules["ltcv_mm"] = pkg
import torch.nn.utils.prune as P
from ltcv_mm.core import prune, select_prunable, save_ticket

import ctypes
_libc = ctypes.CDLL("libc.so.6")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

class Peak:
    def __enter__(self):
        # Hand freed heap memory back first, so earlier rounds' garbage cannot
        # hide what the measured step allocates.
        _libc.malloc_trim(0)
        self.base = self.peak = rss(); self.run = True
        self.t = threading.Thread(target=self._poll, daemon=True); self.t.start(); return self
    def _poll(self):
        while self.run:
            self.peak = max(self.peak, rss()); time.sleep(0.0005)
    def __exit__(self, *a):
        self.run = False; self.t.join(); self.peak = max(self.peak, rss())

torch.manual_seed(0)
model = torchvision.models.resnet50()
weights = select_prunable(dict(model.named_parameters()))
method, earlier, calls = sys.argv[1], int(sys.argv[4]), 5
times, peak = [], None
class Timed:
    """Call 1: memory (with the RSS poller, untimed); the others: time only."""
    def __init__(self, i): self.i = i; self.pk = Peak() if i == 1 else None
    def __enter__(self):
        if self.pk: self.pk.__enter__()
        self.t0 = time.perf_counter()
    def __exit__(self, *a):
        global peak
        dt = time.perf_counter() - self.t0
        if self.pk:
            self.pk.__exit__(); peak = self.pk.peak - self.pk.base
        else:
            times.append(dt)
if method == "ltcv":
    ticket = prune(weights, rounds=earlier) if earlier else None
    with torch.no_grad():  # the weights as IMP leaves them: pruned ones exactly zero
        for n, w in weights.items():
            if ticket is not None: w.mul_(ticket.masks[n])
    for i in range(calls):
        with Timed(i):
            nxt = prune(weights, ticket, rounds=1)
    path = os.path.join(sys.argv[3], "t.safetensors")
    save_ticket(nxt, path, overwrite=True)
    extra = {"file_bytes": os.path.getsize(path), "numel": nxt.numel}
else:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for i in range(calls):
        m2 = torchvision.models.resnet50()  # each call prunes a fresh copy of the same state
        m2.load_state_dict(state)
        mods = dict(m2.named_modules())
        p2 = [(mods[n[:-7]], "weight") for n in weights]
        for _ in range(earlier):
            P.global_unstructured(p2, pruning_method=P.L1Unstructured, amount=0.2)
        with Timed(i):
            P.global_unstructured(p2, pruning_method=P.L1Unstructured, amount=0.2)
        del m2, mods, p2
    extra = {}
print(json.dumps({"method": method, "seconds": min(times), "first_call_seconds": times[0],
                  "extra_peak_bytes": peak, **extra}))
'''


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--json', help='also write the figures here')
    args = p.parse_args()
    root = str(Path(__file__).resolve().parents[1])
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for earlier in (0, 2):
            results = {'ltcv': [], 'torch_prune': []}
            for _ in range(args.repeats):
                for method in ('torch_prune', 'ltcv'):
                    proc = subprocess.run([sys.executable, '-c', WORKER, method, root, tmp, str(earlier)],
                                          capture_output=True, text=True)
                    if proc.returncode:
                        sys.exit(f'{method} worker failed:\n{proc.stderr}')
                    out = proc.stdout
                    results[method].append(json.loads(out.strip().splitlines()[-1]))
            best = {m: min(r['seconds'] for r in rs) for m, rs in results.items()}
            cold = {m: min(r['first_call_seconds'] for r in rs) for m, rs in results.items()}
            mem = {m: min(r['extra_peak_bytes'] for r in rs) for m, rs in results.items()}
            file_bytes, numel = results['ltcv'][0]['file_bytes'], results['ltcv'][0]['numel']
            f = figures[f'round{earlier + 1}'] = {
                'step_seconds_ltcv': best['ltcv'], 'step_seconds_torch_prune': best['torch_prune'],
                'speedup': best['torch_prune'] / best['ltcv'],
                'first_call_seconds_ltcv': cold['ltcv'], 'first_call_seconds_torch_prune': cold['torch_prune'],
                'first_call_speedup': cold['torch_prune'] / cold['ltcv'],
                'extra_peak_mb_ltcv': mem['ltcv'] / 2**20, 'extra_peak_mb_torch_prune': mem['torch_prune'] / 2**20,
                'extra_peak_ratio': mem['ltcv'] / mem['torch_prune'],
                'ticket_file_bytes': file_bytes, 'ticket_bits_per_weight': file_bytes * 8 / numel,
            }
            print(f'ResNet-50, {numel:,} prunable weights, global IMP step of round {earlier + 1} '
                  f'(rate 0.2), best of {args.repeats} processes x 3 calls:')
            print(f'  time          ltcv_mm {best["ltcv"]:.3f} s   torch.nn.utils.prune '
                  f'{best["torch_prune"]:.3f} s   speed-up {f["speedup"]:.1f}x (target >= 10x)')
            print(f'  first call    ltcv_mm {cold["ltcv"]:.3f} s   torch.nn.utils.prune '
                  f'{cold["torch_prune"]:.3f} s   speed-up {f["first_call_speedup"]:.1f}x (fresh process)')
            print(f'  extra peak    ltcv_mm {f["extra_peak_mb_ltcv"]:.0f} MB   torch.nn.utils.prune '
                  f'{f["extra_peak_mb_torch_prune"]:.0f} MB   ratio {f["extra_peak_ratio"]:.2f} (target <= 0.33)')
            print(f'  ticket file   {file_bytes:,} bytes = {f["ticket_bits_per_weight"]:.3f} bits per '
                  f'prunable weight (target <= 1.1)')
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == '__main__':
    main()
