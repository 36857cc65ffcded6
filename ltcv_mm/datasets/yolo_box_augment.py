"""The authors' detection augmentation (Detection/utils/data_augment.py) as mmdet pipeline steps.

Their YOLOv4 loader flips, crops, translates and letterboxes every training image (each step but the
letterbox with probability 0.5), always keeping every box whole inside the image. mmdet's own
``RandomCrop`` / ``RandomAffine`` draw other distributions (boxes may be cut or dropped), so these
steps follow the authors' code: the same draws, in the same order. They read and write mmdet's
``gt_bboxes`` (``HorizontalBoxes``, x1 y1 x2 y2 in pixels).
"""
from __future__ import annotations

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS


class _BoxSafeStep(BaseTransform):
    """A step taken with probability ``prob`` on an image with boxes, given the span of its boxes."""

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'{type(self).__name__}: prob must be in [0, 1], got {prob!r}')
        self.prob = float(prob)

    def transform(self, results: dict) -> dict:
        boxes = results['gt_bboxes'].numpy()
        if len(boxes) == 0 or np.random.rand() >= self.prob:
            return results
        # the smallest box holding every box: x1, y1, x2, y2
        return self.apply(results, np.concatenate([boxes[:, :2].min(0), boxes[:, 2:].max(0)]))

    def apply(self, results: dict, span: np.ndarray) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class BoxSafeCrop(_BoxSafeStep):
    """With probability ``prob``, cut a random margin off the left and top that no box reaches.

    data_augment.py ``RandomCrop``: the crop starts ``U(0, margin)`` short of the boxes' span on
    each side; its right and bottom ends are ``max(width, ...)`` and ``max(height, ...)`` (a ``max``
    where ``min`` was meant), so only the left and top are ever cut. Kept as they run.
    """

    def apply(self, results: dict, span: np.ndarray) -> dict:
        x0 = max(0, int(span[0] - np.random.uniform(0, span[0])))
        y0 = max(0, int(span[1] - np.random.uniform(0, span[1])))
        results['img'] = results['img'][y0:, x0:]
        results['gt_bboxes'].translate_([-x0, -y0])
        results['img_shape'] = results['img'].shape[:2]
        return results


@TRANSFORMS.register_module()
class BoxSafeTranslate(_BoxSafeStep):
    """With probability ``prob``, shift the image by a random offset that keeps every box inside.

    data_augment.py ``RandomAffine``: a translation only, ``tx ~ U(-(left - 1), right - 1)`` and
    ``ty ~ U(-(top - 1), bottom - 1)`` with the margins around the boxes' span, black where the image
    leaves (cv2.warpAffine's default border).
    """

    def apply(self, results: dict, span: np.ndarray) -> dict:
        h, w = results['img'].shape[:2]
        tx = np.random.uniform(-(span[0] - 1), w - span[2] - 1)
        ty = np.random.uniform(-(span[1] - 1), h - span[3] - 1)
        # one bilinear warp by (tx, ty) = a bilinear shift along x, then along y (a translation's
        # interpolation weights factor; the border is 0 in both), in float so that rounding happens once
        img = results['img']
        moved = mmcv.imtranslate(img.astype(np.float32), tx, 'horizontal')
        moved = mmcv.imtranslate(moved, ty, 'vertical')
        results['img'] = np.clip(np.rint(moved), 0, 255).astype(img.dtype) if img.dtype == np.uint8 else moved
        results['gt_bboxes'].translate_([tx, ty])
        return results


@TRANSFORMS.register_module()
class LetterBox(BaseTransform):
    """Resize to fit ``size`` x ``size`` with the aspect kept, centred on a ``pad_val`` canvas.

    data_augment.py ``Resize``: ratio ``min(size / w, size / h)``, sizes truncated to ints, the image
    centred (offsets truncated) on a grey 128 canvas before normalisation; boxes scaled and shifted.
    For training only: mmdet maps test predictions back with ``scale_factor`` alone, which a centred
    pad would offset.
    """

    def __init__(self, size: int = 416, pad_val: int = 128) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f'LetterBox: size must be a positive int, got {size!r}')
        self.size, self.pad_val = size, pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        ratio = min(self.size / w, self.size / h)
        rw, rh = int(ratio * w), int(ratio * h)
        canvas = np.full((self.size, self.size) + img.shape[2:], self.pad_val, dtype=img.dtype)
        dw, dh = int((self.size - rw) / 2), int((self.size - rh) / 2)
        canvas[dh:dh + rh, dw:dw + rw] = mmcv.imresize(img, (rw, rh), backend='cv2')  # bilinear, as cv2.resize
        results['img'] = canvas
        boxes = results['gt_bboxes']
        boxes.rescale_([ratio, ratio])
        boxes.translate_([dw, dh])
        results['img_shape'] = canvas.shape[:2]
        old = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (old[0] * ratio, old[1] * ratio)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size}, pad_val={self.pad_val})'
