#!/usr/bin/env python
"""Evaluate a checkpoint with a config's test set and stock evaluator, plugin loaded.

  python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options ...] [--launcher ...]
"""
from mmengine.runner import Runner

from ltcv_mm.compat.cpu_distributed import leave_gloo_group
from ltcv_mm.compat.cpu_runs import cpu_runs

from runner_cli import load_config, parser


def main():
    p = parser('Test a model (ltcv_mm)', 'test')
    p.add_argument('checkpoint', help='checkpoint file')
    args = p.parse_args()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    with cpu_runs(cfg, args.launcher):
        Runner.from_cfg(cfg).test()
    leave_gloo_group()


if __name__ == '__main__':
    main()
