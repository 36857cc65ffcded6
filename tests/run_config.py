"""Train one config in this process, as tools/train.py would: ``run_config.py CFG [--launcher L] [--resume]``."""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
import probes  # noqa: F401  (registers the test hooks)

p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('--launcher', default='none')
p.add_argument('--resume', action='store_true')
args = p.parse_args()
cfg = Config.fromfile(args.config)
cfg.launcher = args.launcher
cfg.resume = args.resume
Runner.from_cfg(cfg).train()
# ZeroRedundancyOptimizer under gloo: a rank now and then aborts in torch's teardown at interpreter exit
# ("terminate called without an active exception"), after training has ended, with or without this
# plugin (4 of 14 runs of the ZeRO test config without MaskApplyHook). Leave without that teardown.
if args.launcher != 'none':
    import os
    import sys
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
