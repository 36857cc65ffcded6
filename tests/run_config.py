"""Train one config in this process, as tools/train.py would: ``run_config.py CFG [--launcher L] [--resume]``."""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.compat.cpu_distributed import leave_gloo_group
from ltcv_mm.compat.cpu_runs import cpu_runs

import probes  # noqa: F401  (registers the test hooks)

p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('--launcher', default='none')
p.add_argument('--resume', action='store_true')
args = p.parse_args()
cfg = Config.fromfile(args.config)
cfg.launcher = args.launcher
cfg.resume = args.resume
with cpu_runs(cfg, args.launcher):  # as tools/train.py does
    Runner.from_cfg(cfg).train()
leave_gloo_group()  # as tools/train.py does
