"""PadIfNeeded: pad an image and its segmentation map on all four sides before a random crop."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS


@TRANSFORMS.register_module()
class PadIfNeeded(BaseTransform):
    """Pad on every side until the image is at least ``size`` wide and high, as the authors' segmentation
    crop does (``ExtRandomCrop(pad_if_needed=True)``, Segmentation/utils/ext_transforms.py:383-390).

    Where the width is short, all four sides get ``int((1 + size - width) / 2)`` pixels; then, where the
    height is still short, all four get ``int((1 + size - height) / 2)``. The image is padded with
    ``pad_val`` before normalisation (0: black) and the map with ``seg_pad_val`` (0: background, trained
    as such; 255 would be ignored). mmseg pads in its data preprocessor instead, after normalisation and
    only at the bottom and right; put this transform before ``RandomCrop`` to train what the authors did.
    """

    def __init__(self, size: int, pad_val: int = 0, seg_pad_val: int = 0) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f'PadIfNeeded: size must be a positive int, got {size!r}')
        self.size, self.pad_val, self.seg_pad_val = size, pad_val, seg_pad_val

    def _pad_all(self, results: dict, p: int) -> None:
        img = results['img']
        results['img'] = np.pad(img, [(p, p), (p, p)] + [(0, 0)] * (img.ndim - 2), constant_values=self.pad_val)
        for key in results.get('seg_fields', []) or (['gt_seg_map'] if 'gt_seg_map' in results else []):
            results[key] = np.pad(results[key], [(p, p), (p, p)], constant_values=self.seg_pad_val)

    def transform(self, results: dict) -> dict:
        if results['img'].shape[1] < self.size:
            self._pad_all(results, int((1 + self.size - results['img'].shape[1]) / 2))
        if results['img'].shape[0] < self.size:
            self._pad_all(results, int((1 + self.size - results['img'].shape[0]) / 2))
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size}, pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})'
