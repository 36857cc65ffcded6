"""ltcv_mm: lottery tickets in pre-trained ResNet-50 backbones, for OpenMMLab 2.x.

Importing the package registers its modules under the scope ``ltcv``, lets
mmengine resume its own checkpoints under torch's ``weights_only=True``
default (``ltcv_mm.compat.safe_globals``), lets its DDP launcher and its
AmpOptimWrapper run on machines without a GPU (``ltcv_mm.compat.cpu_distributed``,
``ltcv_mm.compat.cpu_amp``), and lets the
stock SimCLR / MoCo configs run when inherited across packages, under numpy 2
(``ltcv_mm.compat.collate_scope``, ``ltcv_mm.compat.mmcv_hue``).
"""
__version__ = '0.1.0'

from .compat.collate_scope import allow_inherited_collate_fn  # noqa: E402
from .compat.cpu_amp import allow_cpu_amp  # noqa: E402
from .compat.cpu_distributed import allow_cpu_distributed  # noqa: E402
from .compat.mmcv_hue import fix_mmcv_adjust_hue  # noqa: E402
from .compat.safe_globals import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()
allow_cpu_distributed()
allow_cpu_amp()
fix_mmcv_adjust_hue()
allow_inherited_collate_fn()

from . import registry  # noqa: E402,F401
from . import datasets  # noqa: E402,F401
from . import hooks  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import optim  # noqa: E402,F401
