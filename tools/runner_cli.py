"""What tools/train.py and tools/test.py share: OpenMMLab's command line and the config it makes."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

import ltcv_mm  # noqa: F401  (registers the ltcv scope and the compat fixes)


def parser(description: str, what: str) -> argparse.ArgumentParser:
    """The options every OpenMMLab entry point has (config, work dir, overrides, launcher)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument('config', help=f'{what} config file path')
    p.add_argument('--work-dir', help='the dir to save logs and models')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings in the config, key=value (xxx=yyy format)')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return p


def load_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied, as OpenMMLab's tools do (work_dirs/<config name> by default)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
