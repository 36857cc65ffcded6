"""RandomRescale: scale an image (and its boxes / segmentation map) by a random factor of its own size."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform, Resize

from ..registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRescale(BaseTransform):
    """Resize by a factor drawn uniformly from ``ratio_range``, relative to the image's own size.

    The seed code's segmentation recipe scales each VOC image by a random
    factor in [0.5, 2] of its own size (``ExtRandomScale``); mmcv's
    ``RandomResize`` scales relative to a fixed target size instead, which
    for VOC's varied image sizes is another distribution. Interpolation
    follows mmcv's ``Resize`` (bilinear images, nearest segmentation maps).
    """

    def __init__(self, ratio_range: tuple[float, float] = (0.5, 2.0), interpolation: str = 'bilinear') -> None:
        low, high = ratio_range
        if not 0 < low <= high:
            raise ValueError(f'RandomRescale: ratio_range must be 0 < low <= high, got {ratio_range}')
        self.ratio_range = (float(low), float(high))
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        factor = float(np.random.uniform(*self.ratio_range))
        return Resize(scale_factor=factor, keep_ratio=True, interpolation=self.interpolation)(results)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(ratio_range={self.ratio_range}, interpolation={self.interpolation!r})'
