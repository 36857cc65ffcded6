"""mmengine 0.10.7: a ``collate_fn`` inherited from another package's config cannot be built.

Loading a cross-package base (``_base_ = 'mmpretrain::...'``) stamps
``_scope_`` on the first dict with a ``type`` along every path, and in a
dataloader that is ``collate_fn``. Runner.build_dataloader then passes
``_scope_`` on to the collate function as an argument, which fails
(``default_collate() got an unexpected keyword argument '_scope_'``) for every
config that inherits mmpretrain's SimCLR or MoCo configs this way. The
scope only selects the registry the function's name is looked up in, which
the Runner already does in the default scope; the wrapper drops the key.
"""
from __future__ import annotations

import copy
import functools


def drop_collate_scope(dataloader):
    if isinstance(dataloader, dict) and isinstance(dataloader.get('collate_fn'), dict) \
            and '_scope_' in dataloader['collate_fn']:
        dataloader = copy.copy(dataloader)
        collate = dict(dataloader['collate_fn'])
        collate.pop('_scope_')
        dataloader['collate_fn'] = collate
    return dataloader


def allow_inherited_collate_fn() -> None:
    from mmengine.runner import Runner
    build = Runner.build_dataloader
    if getattr(build, '_ltcv_patched', False):
        return

    @functools.wraps(build)
    def build_dataloader(dataloader, *args, **kwargs):
        return build(drop_collate_scope(dataloader), *args, **kwargs)
    build_dataloader._ltcv_patched = True
    Runner.build_dataloader = staticmethod(build_dataloader)
