#!/usr/bin/env python
"""The demo: lottery tickets from three pre-trainings, transferred to detection and segmentation.

  1. data      handwritten digits (scikit-learn) written as an image-folder
               classification set, COCO detection scenes (boxes and instance
               masks) and VOC segmentation scenes
  2. pretrain  supervised, SimCLR and MoCo v2 pre-training from scratch
               (mmpretrain's stock configs, augmentations fitted to digits)
  3. probe     k-NN accuracy of every backbone on held-out digits
  4. imp       IMP on each pre-training task (configs/pretrain, IMPHook), a
               ticket per round; k-NN accuracy of each backbone under its
               last ticket and under a random mask of the same layer-wise
               sparsity, before any fine-tuning
  5. transfer  in Faster R-CNN (CocoMetric) and DeepLabV3+ (IoUMetric)
               (configs/transfer, SparseBackbone), each over several seeds:
               the dense backbone from scratch, each dense pre-trained
               backbone, its last ticket, a random mask of the ticket's
               per-layer sparsity (--evidence and --quick: the reverse
               ticket too)
  6. report    WORK_DIR/report/: report.md (tables with mean ± sd and
               verdicts, rewritten after every run), results.csv (every
               run), metric-vs-sparsity plots with error bars, per-layer
               sparsity, mask overlap heatmap

The backbone is ResNet-50 (same layers, so the tickets are ResNet-50
tickets) at width 8 instead of 64, on small images, so that everything
finishes within 15 minutes on 2 CPU cores (--quick: a few minutes, no
evidence). A second run reuses what is finished (a killed run resumes);
--fresh starts over.
"""
import argparse
import dataclasses
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the demo application, demo/, is not installed
from demo import cpu_kernels  # noqa: E402

cpu_kernels.pin()  # before anything loads torch: the same sums on every x86-64 CPU with AVX2 (demo/cpu_kernels.py)
from demo.layout import DemoLayout  # noqa: E402
from demo.main import Demo  # noqa: E402
from demo.settings import PRETRAININGS, TASKS, DemoSettings  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work-dir', default='demo_work', help='where everything goes (default: demo_work)')
    p.add_argument('--fresh', action='store_true', help='discard a previous run in --work-dir')
    p.add_argument('--quick', action='store_true', help='every kind of run on the fewest images and epochs, '
                   'two seeds: a check that everything works (minutes), not evidence')
    p.add_argument('--evidence', action='store_true', help='the paper\'s curves: every IMP round\'s ticket and '
                   'random mask transferred, 6 seeds (docs/demo/evidence/PROTOCOL.md; about 80-90 minutes on 2 '
                   'cores)')
    p.add_argument('--full-width', action='store_true', help='ResNet-50 at its real width (64); slow on CPUs')
    p.add_argument('--width', type=int, help='channels of the first stage (default 8)')
    p.add_argument('--rounds', type=int, help='IMP prunings per pre-training (default 5)')
    p.add_argument('--seeds', type=int, help='runs of every fine-tuning, with seeds 0, 1, ... (default 4)')
    p.add_argument('--round-epochs', type=int, help='epochs per IMP round')
    p.add_argument('--pretrain-epochs', type=int, help='epochs of dense pre-training')
    p.add_argument('--pretrainings', nargs='+', choices=PRETRAININGS, help='default: all three')
    p.add_argument('--tasks', nargs='+', choices=TASKS, help='default: both')
    p.add_argument('--instability', type=int, nargs='?', const=11, metavar='POINTS',
                   help='also the instability analysis (Frankle et al.) of the supervised ticket at its highest '
                   'sparsity and of the dense backbone, in segmentation: two copies each, the linear path '
                   'between them at POINTS points (default 11); about a minute more')
    p.add_argument('--workers', type=int, default=min(2, len(os.sched_getaffinity(0))),
                   help='runs at once (pre-trainings, IMP runs, fine-tunings), one thread each; 1: one after '
                   'another in this process (default: 2, or 1 on one core)')
    p.add_argument('--data', help='use this data folder instead of writing the digits '
                   '(layout: cls/{train,val}/<class>/, coco/{train2017,val2017,annotations}/, VOCdevkit/VOC2012/)')
    args = p.parse_args(argv)

    if args.quick and args.evidence:
        sys.exit('error: --quick and --evidence exclude each other')
    s = DemoSettings.quick() if args.quick else DemoSettings.evidence() if args.evidence else DemoSettings()
    changes = dict(width=64 if args.full_width else args.width, imp_rounds=args.rounds, seeds=args.seeds,
                   round_epochs=args.round_epochs, pretrain_epochs=args.pretrain_epochs,
                   pretrainings=tuple(args.pretrainings) if args.pretrainings else None,
                   tasks=tuple(args.tasks) if args.tasks else None, instability_alphas=args.instability)
    s = dataclasses.replace(s, **{k: v for k, v in changes.items() if v is not None})
    if s.imp_rounds < 1:
        sys.exit('error: --rounds must be at least 1')
    if s.seeds < 1:
        sys.exit('error: --seeds must be at least 1')
    if s.instability_alphas and (s.instability_alphas < 2 or 'segmentation' not in s.tasks
                                 or 'supervised' not in s.pretrainings):
        sys.exit('error: --instability needs at least 2 points, the segmentation task and the supervised '
                 'pre-training')
    # deprecation notices of the stack (pkg_resources, mmcv, mmseg) would bury the progress lines
    warnings.filterwarnings('ignore', category=UserWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    work = Path(args.work_dir)
    if args.fresh:
        DemoLayout.of(work, args.data).remove_run()
    if args.workers < 1:
        sys.exit('error: --workers must be at least 1')
    Demo(work, s, data=args.data, workers=args.workers).run()


if __name__ == '__main__':
    main()
