#!/usr/bin/env python
"""Train with a config, as OpenMMLab's tools/train.py does, with the plugin loaded.

  python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                        [--cfg-options KEY=VALUE ...] [--launcher none|pytorch|slurm|mpi]

A config that keeps its recipe's total batch (``default_hooks.total_batch``, every paper config)
trains that total on any number of processes: each gets total / N images a step.
"""
from mmengine.runner import Runner

from ltcv_mm.compat.cpu_distributed import leave_gloo_group
from ltcv_mm.compat.cpu_runs import cpu_runs
from ltcv_mm.hooks.total_batch_hook import launch_world_size, split_total_batch
from ltcv_mm.optim.summed_accumulation import AMP_OF

from runner_cli import load_config, parser


def main():
    p = parser('Train a model (ltcv_mm)', 'train')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from the given checkpoint, or from the latest one in work_dir')
    p.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    args = p.parse_args()
    cfg = load_config(args)
    split_total_batch(cfg, launch_world_size(args.launcher), args.config,
                      given=(args.cfg_options or {}).get('train_dataloader.batch_size'))
    if args.amp:  # a wrapper that sums accumulated gradients keeps summing under AMP
        cfg.optim_wrapper.type = AMP_OF.get(cfg.optim_wrapper.get('type'), 'AmpOptimWrapper')
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    with cpu_runs(cfg, args.launcher):
        Runner.from_cfg(cfg).train()
    leave_gloo_group()


if __name__ == '__main__':
    main()
