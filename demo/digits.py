"""Images from scikit-learn's handwritten digits: single digits and multi-digit scenes.

The 1,797 8x8 digits ship inside scikit-learn, so the demo and the tests have
real images with no download. Scenes place several digits on a textured
background; every digit is an object with a class, a box and a pixel mask.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

NUM_CLASSES = 10


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 8 x 8 in 0..255, labels int64 N) in scikit-learn's order."""
    from sklearn.datasets import load_digits as sk_load
    d = sk_load()
    return (d.images * (255.0 / 16.0)).round().astype(np.uint8), d.target.astype(np.int64)


def split(labels: np.ndarray, val_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train / val split, stratified by class."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, int(round(len(idx) * val_fraction)))
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.array(train)), np.sort(np.array(val))


def resize(glyph: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(glyph).resize((size, size), Image.BILINEAR))


def to_rgb(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A coloured digit on a dark noisy background (3 x uint8)."""
    colour = rng.uniform(0.6, 1.0, 3)
    img = gray[..., None].astype(np.float32) * colour
    img += rng.uniform(0, 40, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Scene:
    """One image with its digits: boxes are [x1, y1, x2, y2], masks bool H x W."""
    image: np.ndarray
    labels: list[int] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)

    def label_map(self) -> np.ndarray:
        """Semantic labels: 0 background, digit d is class d + 1."""
        out = np.zeros(self.image.shape[:2], np.uint8)
        for label, mask in zip(self.labels, self.masks):
            out[mask] = label + 1
        return out


def make_scene(glyphs: np.ndarray, labels: np.ndarray, rng: np.random.Generator, size: int = 64,
               digits: tuple[int, int] = (2, 4), digit_size: tuple[int, int] = (16, 28)) -> Scene:
    """Place a few digits, drawn from ``glyphs``, without overlap on a noisy canvas."""
    canvas = rng.uniform(0, 50, (size, size, 3)).astype(np.float32)
    scene = Scene(image=canvas)
    taken = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(digits[0], digits[1] + 1))):
        s = int(rng.integers(digit_size[0], min(digit_size[1], size) + 1))
        for _attempt in range(20):
            y, x = (int(v) for v in rng.integers(0, size - s + 1, 2))
            if not taken[y:y + s, x:x + s].any():
                break
        else:
            continue
        i = int(rng.integers(len(glyphs)))
        gray = resize(glyphs[i], s)
        mask = gray > 96
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            continue
        colour = rng.uniform(0.6, 1.0, 3).astype(np.float32)
        region = canvas[y:y + s, x:x + s]
        region[mask] = gray[mask][:, None] * colour
        full = np.zeros((size, size), bool)
        full[y:y + s, x:x + s] = mask
        taken[y:y + s, x:x + s] = True
        scene.labels.append(int(labels[i]))
        scene.boxes.append([float(x + xs.min()), float(y + ys.min()), float(x + xs.max() + 1), float(y + ys.max() + 1)])
        scene.masks.append(full)
    scene.image = np.clip(canvas, 0, 255).astype(np.uint8)
    return scene
