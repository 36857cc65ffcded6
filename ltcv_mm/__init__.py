"""ltcv_mm: lottery tickets in pre-trained ResNet-50 backbones, for OpenMMLab 2.x.

Importing the package registers its modules under the scope ``ltcv`` and
lets mmengine resume its own checkpoints under torch's ``weights_only=True``
default (see ``ltcv_mm.compat.safe_globals``).
"""
__version__ = '0.1.0'

from .compat.safe_globals import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()

from . import registry  # noqa: E402,F401
from . import hooks  # noqa: E402,F401
