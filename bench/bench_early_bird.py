#!/usr/bin/env python
"""Early-bird IMP rounds against full rounds, side by side in one run (issue 12).

Two set-ups, each run twice with the same seeds, once with full rounds and
once with ``early_bird`` (You et al.'s window 5 and eps 0.1):

- ``demo``: the demo's supervised IMP (its data, its pre-trained classifier,
  its shipped config, 3 prunings of 45 %), with one round = one epoch (41
  iterations) counted in iterations, so that masks can be drawn inside a
  round (every 3 iterations); then each run's last ticket is fine-tuned in
  the demo's two transfer tasks (Faster R-CNN, DeepLabV3+) with seeds 0-2.
- ``config``: the shipped paper config ``configs/paper/downstream/imp_r50_fmnist_lt.py``
  through ``tools/train.py``, shrunk: Fashion-MNIST-format files of the
  scikit-learn digits (1,200 train / 300 validation / 297 test), a width-8
  ResNet-50, rounds of 12 epochs (milestones 6, 9), 2 prunings at the
  paper's 20 %; a mask every epoch, as You et al.

Prints per run the iterations (or epochs) each round trained, the wall
time, the IoU of the early and full tickets of each round, the validation
metric per round, and the downstream metric of both last tickets (demo:
mean ± sd over the seeds and the paired difference; config: the test
accuracy at the last round's best validation). ``--work-dir`` keeps the runs
(a second call reuses them).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ltcv_mm.core import load_ticket  # noqa: E402
from ltcv_mm.core.imp_record import RunRecord  # noqa: E402

EARLY = dict(window=5, eps=0.1)
DEMO_EVERY = 3        # iterations between two masks in the demo's rounds
SEEDS = (0, 1, 2)


def _summary(work: Path) -> dict:
    """The run's summary (settings and records), read through its record."""
    run = RunRecord.of_work_dir(work).read()
    return {**run.settings, 'records': run.records}


def _rounds_table(name: str, full: dict, early: dict, full_work: Path, early_work: Path, unit: str) -> None:
    print(f'{name}: round, sparsity, {unit} trained (full / early), IoU early vs full ticket, '
          f'validation {full["records"][0]["metric_name"]} (full / early)')
    for f, e in zip(full['records'], early['records']):
        iou = ''
        if f['ticket']:
            k = f['round']
            early_ticket = load_ticket(RunRecord.of_work_dir(early_work).ticket_path(k))
            iou = f'{early_ticket.overlap(load_ticket(RunRecord.of_work_dir(full_work).ticket_path(k))):.4f}'
        print(f'  {f["round"]}  {f["sparsity"]:7.2%}  {full["interval"]} / {e["early_bird"]["length"]}'
              f'{" (early)" if e["early_bird"]["ended_early"] else ""}  IoU {iou or "-":6s}  '
              f'{f["metric"]:.2f} / {e["metric"]:.2f}')


def _trained(out: dict) -> dict[str, int]:
    """Epochs or iterations each run trained in all (full rounds have no early_bird record)."""
    return {k: sum((r.get('early_bird') or {}).get('length', v['summary']['interval']) for r in v['summary']['records'])
            for k, v in out.items()}


def _mean_sd(values: list[float]) -> str:
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def bench_demo(root: Path) -> dict:
    from demo import runs
    from demo.main import Demo
    from demo.progress import Progress
    from demo.settings import DemoSettings

    s = DemoSettings(pretrainings=('supervised',))
    demo = Demo(root / 'demo', s)
    demo._check_settings()
    demo.stage_data()
    demo.stage_pretrain(Progress(demo.plan()))
    pretrain = runs.read_result(demo.layout.pretrain_work('supervised'))
    per_epoch = -(-len(list((demo.layout.data / 'cls/train').rglob('*.png'))) // s.pretrain_batch)
    out = {}
    for name in ('full', 'early'):
        work = root / 'imp' / name
        cfg = runs.imp_config(s, 'supervised', demo.layout.data, work, demo.layout.pretrained('supervised'),
                              Path(pretrain['checkpoint']))
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=per_epoch * s.round_epochs,
                             val_interval=per_epoch * s.round_epochs)
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=per_epoch,
                                            max_keep_ckpts=1)
        imp = next(h for h in cfg.custom_hooks if h['type'] == 'ltcv.IMPHook')
        if name == 'early':
            imp['early_bird'] = dict(interval=DEMO_EVERY, **EARLY)
        result = runs.run(cfg, work, dict(stage='imp', pretraining='supervised', variant=name))
        out[name] = dict(seconds=result['seconds'], summary=_summary(work))
    _rounds_table(f'demo supervised IMP (rounds of {per_epoch} iterations, a mask every {DEMO_EVERY})',
                  out['full']['summary'], out['early']['summary'], root / 'imp/full',
                  root / 'imp/early', 'iterations')
    trained = _trained(out)
    print(f'  iterations in all: full {trained["full"]}, early {trained["early"]} '
          f'({1 - trained["early"] / trained["full"]:.1%} fewer); wall time: full {out["full"]["seconds"]:.1f} s, '
          f'early {out["early"]["seconds"]:.1f} s ({1 - out["early"]["seconds"] / out["full"]["seconds"]:.1%} less)')
    last = s.imp_rounds
    for task in s.tasks:
        metric = runs.METRIC[task]
        values = {}
        for name in ('full', 'early'):
            ticket = RunRecord.of_work_dir(root / 'imp' / name).ticket_path(last)
            values[name] = []
            for seed in SEEDS:
                work = root / 'transfer' / task / name / f'seed{seed}'
                cfg = runs.transfer_config(s, task, 'supervised', demo.layout.data, work,
                                           demo.layout.pretrained('supervised'), ticket, 'ticket', seed)
                result = runs.run(cfg, work, dict(stage='transfer', task=task, variant=name, seed=seed))
                values[name].append(result['metrics'][metric] * (100 if task == 'detection' else 1))
        diff = [e - f for e, f in zip(values['early'], values['full'])]
        se = statistics.stdev(diff) / len(diff) ** 0.5
        print(f'  {task} ({metric}{" x100" if task == "detection" else ""}), round-{last} tickets, seeds '
              f'{list(SEEDS)}: full {_mean_sd(values["full"])}, early {_mean_sd(values["early"])}, '
              f'paired early - full {statistics.mean(diff):+.2f} ± {se:.2f} (se)')
        out[task] = values
    return out


def _write_fmnist(data: Path) -> None:
    from demo import digits, formats
    glyphs, labels = digits.load_digits()
    images = np.stack([digits.resize(g, 28) for g in glyphs])
    formats.write_mnist_idx(data, 'train', images[:1500], labels[:1500])
    formats.write_mnist_idx(data, 't10k', images[1500:], labels[1500:])


def bench_config(root: Path) -> dict:
    data = root / 'fashion_mnist'
    if not (data / 't10k-labels-idx1-ubyte').is_file():
        _write_fmnist(data)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    common = [f'train_dataloader.dataset.dataset.data_root={data}',
              f'val_dataloader.dataset.dataset.data_root={data}', f'test_dataloader.dataset.data_root={data}',
              'train_dataloader.dataset.stop=1200', 'val_dataloader.dataset.start=1200',
              'val_dataloader.dataset.stop=1500', 'train_dataloader.batch_size=64', 'auto_scale_lr.enable=False',
              'default_hooks.total_batch.keep=False',
              *[f'{d}.num_workers=0' for d in loaders], *[f'{d}.persistent_workers=False' for d in loaders],
              'model.backbone.base_channels=8', 'model.backbone.stem_channels=8', 'model.head.in_channels=256',
              'train_cfg.max_epochs=12', 'param_scheduler.1.milestones=[6,9]', 'custom_hooks.0.rounds=2',
              'randomness.seed=0']
    early = ['custom_hooks.0.early_bird.interval=1', f'custom_hooks.0.early_bird.window={EARLY["window"]}',
             f'custom_hooks.0.early_bird.eps={EARLY["eps"]}']
    out = {}
    for name in ('full', 'early'):
        work = root / 'config' / name
        if not RunRecord.of_work_dir(work).summary_path.is_file() or len(_summary(work)['records']) < 3:
            t0 = time.time()
            subprocess.run([sys.executable, str(ROOT / 'tools/train.py'),
                            str(ROOT / 'configs/paper/downstream/imp_r50_fmnist_lt.py'), '--work-dir', str(work),
                            '--cfg-options', *common, *(early if name == 'early' else [])],
                           check=True, cwd=ROOT, capture_output=True)
            (work / 'seconds.txt').write_text(f'{time.time() - t0:.1f}')
        out[name] = dict(seconds=float((work / 'seconds.txt').read_text()), summary=_summary(work))
    _rounds_table('configs/paper/downstream/imp_r50_fmnist_lt.py shrunk (rounds of 12 epochs, a mask every epoch)',
                  out['full']['summary'], out['early']['summary'], root / 'config/full',
                  root / 'config/early', 'epochs')
    trained = _trained(out)
    test = {k: v['summary']['records'][-1]['best']['test']['accuracy/top1'] for k, v in out.items()}
    print(f'  epochs in all: full {trained["full"]}, early {trained["early"]} '
          f'({1 - trained["early"] / trained["full"]:.1%} fewer); wall time: full {out["full"]["seconds"]:.1f} s, '
          f'early {out["early"]["seconds"]:.1f} s ({1 - out["early"]["seconds"] / out["full"]["seconds"]:.1%} less)')
    print(f'  test top-1 of the last ticket at its best validation: full {test["full"]:.2f}, '
          f'early {test["early"]:.2f}')
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', help='keep the runs here (default: a temporary folder)')
    p.add_argument('--part', choices=('demo', 'config', 'both'), default='both')
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work_dir or tmp)
        results = {}
        if args.part in ('demo', 'both'):
            results['demo'] = bench_demo(root)
        if args.part in ('config', 'both'):
            results['config'] = bench_config(root)
        (root / 'bench_early_bird.json').write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
