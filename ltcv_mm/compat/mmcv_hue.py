"""mmcv 2.1's ``adjust_hue`` under numpy 2: negative hue shifts (half of them) raise OverflowError.

mmcv adds ``np.uint8(hue_factor * 255)`` to the hue channel; numpy 1 wrapped a
negative value around (-2 -> 254), numpy 2 refuses it. Every stock SimCLR and
MoCo v2 pipeline of mmpretrain draws such shifts (ColorJitter, hue=0.1), so
their first batch fails. The replacement computes the same wrapped shift and
otherwise does exactly what mmcv does.
"""
from __future__ import annotations

import numpy as np

original_adjust_hue = None  # mmcv's own, kept for comparison (tests)


def _hue_shift(hue_factor: float) -> np.uint8:
    return np.uint8(int(hue_factor * 255) % 256)  # numpy 1's wrap-around, explicit


def adjust_hue(img: np.ndarray, hue_factor: float, backend: str | None = None) -> np.ndarray:
    import cv2
    from mmcv.image import photometric
    from PIL import Image
    if backend is None:
        backend = photometric.imread_backend
    if backend not in ['cv2', 'pillow']:
        raise ValueError(f'backend: {backend} is not supported.'
                         f"Supported backends are 'cv2', 'pillow'")
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and (img.ndim in {2, 3})):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = _hue_shift(hue_factor)
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 arithmetic wraps around the hue circle
        pil_image = Image.merge('HSV', (Image.fromarray(np_h, 'L'), s, v)).convert('RGB')
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    h, s, v = cv2.split(cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL))
    h = h.astype(np.uint8)
    h += shift
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def fix_mmcv_adjust_hue() -> None:
    """Install the replacement where mmcv's callers look it up (mmcv.adjust_hue), on numpy 2 only."""
    if int(np.__version__.split('.')[0]) < 2:
        return
    try:
        import mmcv
        import mmcv.image
        from mmcv.image import photometric
    except ImportError:
        return
    global original_adjust_hue
    if photometric.adjust_hue is not adjust_hue:
        original_adjust_hue = photometric.adjust_hue
    for module in (mmcv, mmcv.image, photometric):
        module.adjust_hue = adjust_hue
