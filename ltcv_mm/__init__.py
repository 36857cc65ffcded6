"""ltcv_mm: lottery tickets in pre-trained ResNet-50 backbones, for OpenMMLab 2.x.

Importing the package registers its modules under the scope ``ltcv``. It
changes nothing else in OpenMMLab, except three fixes of framework bugs,
each a no-op wherever the stock code works: mmengine's resume under torch's
``weights_only=True`` default (``ltcv_mm.compat.safe_globals``), a
``collate_fn`` inherited across packages (``ltcv_mm.compat.collate_scope``),
and mmcv's hue jitter under numpy 2 (``ltcv_mm.compat.mmcv_hue``). CPU AMP
and CPU DDP apply only around a run that asks for them on a machine without
a GPU (``ltcv_mm.compat.cpu_runs``, used by tools/train.py and tools/test.py).
"""
__version__ = '0.1.0'

from .compat.collate_scope import allow_inherited_collate_fn  # noqa: E402
from .compat.mmcv_hue import fix_mmcv_adjust_hue  # noqa: E402
from .compat.safe_globals import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()
fix_mmcv_adjust_hue()
allow_inherited_collate_fn()

from . import datasets, hooks, models, optim, registry  # noqa: E402,F401
