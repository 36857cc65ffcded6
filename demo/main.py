"""The demo, stage by stage: data, dense pre-training, IMP, transfer, report.

Every stage goes through the configs a user runs (stock mmpretrain configs
for pre-training, configs/pretrain for IMP, configs/transfer for the
detector and the segmentor), shrunk by DemoSettings, in stock Runners.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from ltcv_mm.core import atomic_write_bytes, load_ticket

from . import digits, formats, runs
from .layout import DemoLayout, TransferJob, transfer_jobs
from .probe import backbone_knn
from .progress import Progress
from .report import number, write_report
from .settings import INSTABILITY_MODES, DemoSettings, read_saved
from .workers import Workers

# rough seconds of each run at the default settings, for the estimate of the time left
COST = {'pretrain': 15.0, 'imp': 2.5, 'detection': 12.5, 'segmentation': 6.5, 'path_point': 0.4}


class Demo:
    """The demo as its sequence of stages: data, dense pre-training, k-NN probe, IMP, ticket probe,
    transfer, instability, report. Each stage reuses what a previous run in the same folder finished
    (``layout`` says where everything is), so an interrupted demo continues where it stopped.

    Args:
        work: the demo's work folder.
        s: its settings (a folder holds the runs of one set of settings).
        data: the generated data sets (default ``work/data``, written by the data stage).
        workers: runs at once (pre-trainings, IMP runs, fine-tunings): processes of one thread each, or
            this process with 1.
    """

    def __init__(self, work: Path, s: DemoSettings, data: Path | None = None, workers: int = 1) -> None:
        self.layout = DemoLayout.of(work, data)
        self.s = s
        self.workers = workers
        self.pool = Workers(workers)  # kept for every stage of run()
        self.timings: dict[str, float] = {}

    def plan(self) -> list[tuple[str, float]]:
        s = self.s
        plan = [(f'pretrain/{p}', COST['pretrain']) for p in s.pretrainings]
        plan += [(f'imp/{p}', COST['imp'] * (s.imp_rounds + 1)) for p in s.pretrainings]  # rounds + dense
        plan += [(job.key, COST[job.task]) for job in transfer_jobs(s)]
        if s.instability_alphas:
            plan += [(f'instability/{m}', 2 * COST['segmentation'] + s.instability_alphas * COST['path_point'])
                     for m in INSTABILITY_MODES]
        return plan

    # -- stages -------------------------------------------------------------
    def run(self) -> Path:
        self._check_settings()
        t = time.time()
        self.stage_data()
        self.timings['data'] = time.time() - t
        progress = Progress(self.plan(), parallel=self.workers)
        with self.pool:
            for name, stage in (('pretrain', self.stage_pretrain), ('probe', self.stage_probe),
                                ('imp', self.stage_imp), ('ticket_probe', self.stage_ticket_probe),
                                ('transfer', self.stage_transfer),
                                ('instability', self.stage_instability)):
                t = time.time()
                stage(progress)
                self.timings[name] = time.time() - t
        t = time.time()
        report = write_report(self.layout, self.s, figures=True)
        self.timings['report'] = time.time() - t
        self.timings['total'] = sum(self.timings.values())
        atomic_write_bytes(self.layout.timings, json.dumps(self.timings, indent=1).encode())
        print('wall time per stage: ' + ', '.join(f'{k} {v:.1f} s' for k, v in self.timings.items()))
        print(f'report: {report}')
        return report

    def _check_settings(self) -> None:
        self.layout.work.mkdir(parents=True, exist_ok=True)
        path = self.layout.settings
        mine = json.dumps(self.s.as_dict(), indent=1, sort_keys=True)
        saved = read_saved(path)
        if saved is not None and saved != json.loads(mine):
            raise SystemExit(f'{self.layout.work} holds a demo run with other settings ({path}); '
                             'pass --fresh to redo it, or another --work-dir')
        atomic_write_bytes(path, mine.encode())

    def stage_data(self) -> None:
        s, data = self.s, self.layout.data
        if not self.layout.owns_data:
            for sub in ('cls/train', 'coco/annotations', 'VOCdevkit/VOC2012'):
                if not (data / sub).exists():
                    raise SystemExit(f'--data {data}: missing {sub}/ (the layout the demo writes: '
                                     'cls/{train,val}/<class>/, coco/{train2017,val2017,annotations}/, '
                                     'VOCdevkit/VOC2012/)')
            return
        done = self.layout.data_done
        if done.is_file():
            print(f'[data] reused {data}')
            return
        print(f'[data] writing digits (scikit-learn) in the standard formats to {data}')
        glyphs, labels = digits.load_digits()
        rng = np.random.default_rng(s.seed)
        train, val = digits.split(labels, seed=s.seed)
        for split, idx in (('train', train), ('val', val)):
            per_class = s.per_class if split == 'train' else max(2, s.per_class // 3)
            chosen = np.concatenate([idx[labels[idx] == c][:per_class] for c in range(10)])
            images = [digits.to_rgb(digits.resize(glyphs[i], s.cls_size), rng) for i in chosen]
            formats.write_imagenet_layout(data / 'cls', split, images, labels[chosen], runs.DIGITS)
        scenes = {split: [digits.make_scene(glyphs[idx], labels[idx], rng, size=s.scene_size,
                                            digit_size=(s.scene_size // 4, s.scene_size * 7 // 16))
                          for _ in range(n)]
                  for split, n, idx in (('train', s.train_scenes, train), ('val', s.val_scenes, val))}
        det, seg = ({split: _as_classes(sc, runs.scene_classes(s, task)) for split, sc in scenes.items()}
                    for task in ('detection', 'segmentation'))
        formats.write_coco(data / 'coco', 'train2017', det['train'], runs.scene_classes(s, 'detection'))
        formats.write_coco(data / 'coco', 'val2017', det['val'], runs.scene_classes(s, 'detection'))
        formats.write_voc_segmentation(data / 'VOCdevkit', seg)
        atomic_write_bytes(done, json.dumps({'train_scenes': s.train_scenes}).encode())

    def _stage(self, progress: Progress, jobs: list, done: Callable, work: Callable, label: Callable,
               key: Callable, summary: Callable) -> None:
        """A stage's runs: the finished ones reported as reused, the others run by the workers."""
        for job in (j for j in jobs if done(j)):
            progress.finish(key(job), progress.start(label(job)), True, summary(job, work(job)))
        self.pool.run_all([j for j in jobs if not done(j)], work, lambda job: progress.start(label(job)),
                          lambda job, t, result: progress.finish(key(job), t, False, summary(job, result)))

    def stage_pretrain(self, progress: Progress) -> None:
        lay, s = self.layout, self.s
        self._stage(progress, list(s.pretrainings),
                    done=lambda p: runs.is_done(lay.pretrain_work(p)) and lay.pretrained(p).is_file(),
                    work=partial(_pretrain, lay, s),
                    label=lambda p: f'pre-training {p} (dense, from scratch, {s.pretrain_epochs} epochs)',
                    key=lambda p: f'pretrain/{p}', summary=lambda p, result: _metrics(result))

    def stage_imp(self, progress: Progress) -> None:
        lay, s = self.layout, self.s
        self._stage(progress, list(s.pretrainings), done=lambda p: runs.is_done(lay.imp_work(p)),
                    work=partial(_imp, lay, s),
                    label=lambda p: (f'IMP on the {p} task: {s.imp_rounds} prunings of {s.imp_rate:.0%}, '
                                     f'{s.round_epochs} epoch(s) a round, rewinding to the pre-trained weights'),
                    key=lambda p: f'imp/{p}',
                    summary=lambda p, result: (f'round {s.imp_rounds} ticket '
                                               f'{load_ticket(lay.ticket(p, s.imp_rounds)).sparsity:.2%} sparse'))

    def stage_probe(self, progress: Progress) -> None:
        """k-NN accuracy on held-out digits of each pre-trained backbone and of a random one (probe.json)."""
        lay = self.layout
        if lay.probe.is_file():
            return
        knn = {p: backbone_knn(lay.pretrained(p), self.s.width, lay.data, runs.DIGITS, seed=self.s.seed)
               for p in self.s.pretrainings}
        knn['random init'] = backbone_knn(None, self.s.width, lay.data, runs.DIGITS, seed=self.s.seed)
        print('    k-NN accuracy on held-out digits: ' + ', '.join(f'{p} {v:.1f} %' for p, v in knn.items()))
        atomic_write_bytes(lay.probe, json.dumps(knn, indent=1).encode())

    def stage_ticket_probe(self, progress: Progress) -> None:
        """k-NN accuracy on held-out digits of each pre-trained backbone under its ticket at the highest
        transferred sparsity and under that ticket's random mask (seed ``seed``, the seed-0 fine-tuning's
        mask), before any fine-tuning: how much of the pre-trained features each mask keeps."""
        from ltcv_mm.models.sparse_backbone import ticket_for_mode
        lay = self.layout
        if lay.ticket_probe.is_file():
            return
        s, k = self.s, max(self.s.transferred_rounds())
        out = {}
        for p in s.pretrainings:
            ticket = load_ticket(lay.ticket(p, k))
            out[p] = dict(round=k, sparsity=ticket.sparsity)
            for mode in ('ticket', 'random'):
                out[p][mode] = backbone_knn(lay.pretrained(p), s.width, lay.data, runs.DIGITS, seed=s.seed,
                                            ticket=ticket_for_mode(ticket, mode, s.seed))
        print('    k-NN accuracy on held-out digits under the tickets (random masks): ' + ', '.join(
            f'{p} {v["ticket"]:.1f} % ({v["random"]:.1f} %)' for p, v in out.items()))
        atomic_write_bytes(lay.ticket_probe, json.dumps(out, indent=1).encode())

    def stage_transfer(self, progress: Progress) -> None:
        """Every fine-tuning not yet done, ``workers`` at a time; the report is rewritten after each."""
        todo = []
        for job in transfer_jobs(self.s):
            if runs.is_done(self.layout.transfer_dir(job)):
                self._finished(progress, job, progress.start(self._label(job)), self.fine_tune(job), True)
            else:
                todo.append(job)
        self.pool.run_all(todo, partial(_fine_tune, self.layout, self.s),
                          lambda job: progress.start(self._label(job)),
                          lambda job, t, result: self._finished(progress, job, t, result, False))

    def _label(self, job: TransferJob) -> str:
        p, k = job.pretraining, job.round
        what = {'scratch': 'dense backbone from scratch', 'dense': f'{p} dense backbone',
                'ticket': f'{p} ticket', 'random': f'{p} random mask', 'reverse': f'{p} reverse ticket'}[job.mode]
        return (f'{job.task}: {what}' + (f' of round {k} ({self._sparsity(job):.1%} sparse)' if k else '')
                + f', seed {job.seed}')

    def _sparsity(self, job: TransferJob) -> float:
        if not job.masked:
            return 0.0
        sparsity = load_ticket(self.layout.ticket(job.pretraining, job.round)).sparsity
        return 1.0 - sparsity if job.mode == 'reverse' else sparsity

    def fine_tune(self, job: TransferJob) -> dict:
        """One transfer run (or its finished result): the shipped config in a stock Runner, then the
        zeros of its final checkpoint where its mask prunes (``checked_sparsity``)."""
        lay, p = self.layout, job.pretraining
        work = lay.transfer_dir(job)
        ticket = lay.ticket(p, job.round) if job.masked else None
        if runs.is_done(work):  # a finished run: no config to build
            result = runs.read_result(work)
        else:
            pretrained = lay.pretrained(p) if p else None
            cfg = runs.transfer_config(self.s, job.task, p, lay.data, work, pretrained, ticket, job.mode, job.seed)
            record = dict(stage='transfer', task=job.task, pretraining=p, mode=job.mode, round=job.round,
                          seed=job.seed, sparsity=self._sparsity(job), metric=runs.METRIC[job.task])
            result = runs.run(cfg, work, record)
        if ticket is not None and 'checked_sparsity' not in result:
            result['checked_sparsity'] = runs.kept_zeros(Path(result['checkpoint']), ticket, job.mode, job.seed)
            atomic_write_bytes(work / runs.RESULT, json.dumps(result, indent=1).encode())
        return result

    def _finished(self, progress: Progress, job: TransferJob, started: float, result: dict, reused: bool) -> None:
        metric = runs.METRIC[job.task]
        progress.finish(job.key, started, reused, f'{metric} = {result["metrics"].get(metric)}')
        if not reused:  # a partial report is readable at any time (figures come at the end)
            write_report(self.layout, self.s, figures=False)

    def stage_instability(self, progress: Progress) -> None:
        """With ``instability_alphas``: the linear path between two copies (seeds seed, seed + 1) of the
        supervised ticket at the highest transferred sparsity, and of the dense backbone, fine-tuned for
        segmentation (``ltcv_mm.engine.linear_path``)."""
        from ltcv_mm.engine.linear_path import linear_path
        s = self.s
        if not s.instability_alphas:
            return
        k = max(s.transferred_rounds())
        for mode in INSTABILITY_MODES:
            out = self.layout.instability_path(mode)
            reused = out.is_file()
            t = progress.start(f'instability: two copies of the supervised {mode} in segmentation (seeds '
                               f'{s.seed}, {s.seed + 1}), the path between them at {s.instability_alphas} points')
            if not reused:
                ticket = self.layout.ticket('supervised', k) if mode == 'ticket' else None
                cfg = runs.transfer_config(s, 'segmentation', 'supervised', self.layout.data, out.parent,
                                           self.layout.pretrained('supervised'), ticket, mode, s.seed)
                out.parent.mkdir(parents=True, exist_ok=True)
                with open(out.parent / 'stdout.txt', 'a') as log, contextlib.redirect_stdout(log):
                    record = linear_path(cfg, out.parent, (s.seed, s.seed + 1), s.instability_alphas,
                                         bn_batches=-(-s.train_scenes // s.batch_size),  # every batch
                                         metric=runs.METRIC['segmentation'], log=lambda line: None)
                record.update(mode=mode, round=k if mode == 'ticket' else 0)
                atomic_write_bytes(out, json.dumps(record, indent=1, allow_nan=False).encode())
            record = json.loads(out.read_text())
            progress.finish(f'instability/{mode}', t, reused,
                            f'barrier {number(record["barrier"])} {record["metric"]} ({record["verdict"]})')


def _pretrain(layout: DemoLayout, s: DemoSettings, p: str) -> dict:
    """Dense pre-training from scratch (a worker's job), its backbone exported for IMP and transfer."""
    cfg = runs.pretrain_config(s, p, layout.data, layout.pretrain_work(p))
    result = runs.run(cfg, layout.pretrain_work(p), dict(stage='pretrain', pretraining=p))
    runs.export_backbone(Path(result['checkpoint']), layout.pretrained(p))
    return result


def _imp(layout: DemoLayout, s: DemoSettings, p: str) -> dict:
    """IMP on the pre-training task (a worker's job), from the dense pre-training's checkpoint."""
    pretrain = runs.read_result(layout.pretrain_work(p))
    cfg = runs.imp_config(s, p, layout.data, layout.imp_work(p), layout.pretrained(p), Path(pretrain['checkpoint']))
    return runs.run(cfg, layout.imp_work(p), dict(stage='imp', pretraining=p))


def _fine_tune(layout: DemoLayout, s: DemoSettings, job: TransferJob) -> dict:
    return Demo(layout.work, s, layout.data).fine_tune(job)


def _as_classes(scenes: list, classes: tuple[str, ...]) -> list:
    """The scenes labelled for the task's classes: as drawn (ten digits), every digit 0 (one class
    'digit'), only digits 0-4 annotated, as 0, the distractors left unannotated ('low digit'), or digits
    0-4 as 0 and 5-9 as 1 ('low/high')."""
    if classes == runs.SCENE_KINDS['low/high']:
        return [dataclasses.replace(sc, labels=[int(label >= runs.DISTRACTORS_FROM) for label in sc.labels])
                for sc in scenes]
    if len(classes) > 1:
        return scenes
    if classes == ('low digit',):
        keep = [[i for i, label in enumerate(sc.labels) if label < runs.DISTRACTORS_FROM] for sc in scenes]
        return [dataclasses.replace(sc, labels=[0] * len(k), boxes=[sc.boxes[i] for i in k],
                                    masks=[sc.masks[i] for i in k]) for sc, k in zip(scenes, keep)]
    return [dataclasses.replace(sc, labels=[0] * len(sc.labels)) for sc in scenes]


def _metrics(result: dict) -> str:
    return ', '.join(f'{k} = {v:.4g}' for k, v in result['metrics'].items()) or 'no validation (self-supervised)'
