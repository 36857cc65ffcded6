"""Writers of the standard on-disk data formats the stock OpenMMLab readers take.

Image folders (mmpretrain CustomDataset), MNIST idx files (mmpretrain
MNIST / FashionMNIST), COCO instances json with boxes and polygon masks
(mmdet CocoDataset) and VOC segmentation pngs (mmseg PascalVOCDataset). Each
writes the layout the stock config of that reader expects under its
``data_root``. (The tests' other formats are in tests/dataset_files.py.)
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from .digits import Scene


def write_image_folder(root: Path, images: Sequence[np.ndarray], labels: Sequence[int],
                       class_names: Sequence[str]) -> Path:
    """root/<class name>/<n>.png: mmpretrain's CustomDataset layout."""
    for n, (img, label) in enumerate(zip(images, labels)):
        d = Path(root) / class_names[label]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f'{n:05d}.png')
    return Path(root)


def write_imagenet_layout(root: Path, split: str, images: Sequence[np.ndarray], labels: Sequence[int],
                          class_names: Sequence[str]) -> Path:
    """root/<split>/<class>/<n>.png and root/meta/<split>.txt ('<class>/<n>.png <label>' lines):
    mmpretrain's ImageNet layout, which its configs read with or without the meta file."""
    root = Path(root)
    write_image_folder(root / split, images, labels, class_names)
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    lines = [f'{class_names[label]}/{n:05d}.png {int(label)}' for n, label in enumerate(labels)]
    (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def write_mnist_idx(root: Path, split: str, images: np.ndarray, labels: np.ndarray) -> Path:
    """The raw (un-gzipped) idx files mmpretrain's MNIST readers open: split 'train' or 't10k'."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (root / f'{split}-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 2051, n, h, w)
                                                      + images.astype(np.uint8).tobytes())
    (root / f'{split}-labels-idx1-ubyte').write_bytes(struct.pack('>II', 2049, n)
                                                      + labels.astype(np.uint8).tobytes())
    return root


def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (x1, y1, x2, y2, ...) of a binary mask's outer contours."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        if len(c) >= 3:
            polys.append([float(v) + 0.5 for v in c.reshape(-1)])
    return polys


def write_coco(root: Path, split: str, scenes: Sequence[Scene], class_names: Sequence[str]) -> Path:
    """root/<split>/<id>.png and root/annotations/instances_<split>.json (boxes and polygons)."""
    root = Path(root)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, scene in enumerate(scenes):
        name = f'{i:06d}.png'
        Image.fromarray(scene.image).save(root / split / name)
        h, w = scene.image.shape[:2]
        images.append(dict(id=i + 1, file_name=name, height=h, width=w))
        for label, box, mask in zip(scene.labels, scene.boxes, scene.masks):
            x1, y1, x2, y2 = box
            polys = mask_polygons(mask)
            if not polys:
                continue
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=label + 1, iscrowd=0,
                             bbox=[x1, y1, x2 - x1, y2 - y1], area=float(mask.sum()), segmentation=polys))
    doc = dict(images=images, annotations=anns,
               categories=[dict(id=c + 1, name=n) for c, n in enumerate(class_names)])
    path = root / 'annotations' / f'instances_{split}.json'
    path.write_text(json.dumps(doc))
    return path


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map of its label pngs (index i -> RGB)."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def write_voc_segmentation(devkit: Path, splits: dict[str, Sequence[Scene]]) -> Path:
    """devkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationClassAug}, ImageSets/Segmentation/*.txt.

    Labels: 0 background, digit d is class d + 1. ``SegmentationClass`` holds
    palette pngs (as VOC ships them), ``SegmentationClassAug`` plain label
    pngs (as the SBD augmentation does); ``aug`` lists the same images as
    ``train`` so that the stock voc12aug config finds both.
    """
    root = Path(devkit) / 'VOC2012'
    for d in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug', 'ImageSets/Segmentation'):
        (root / d).mkdir(parents=True, exist_ok=True)
    palette = voc_palette()
    for split, scenes in splits.items():
        ids = []
        for i, scene in enumerate(scenes):
            img_id = f'{split}_{i:06d}'
            ids.append(img_id)
            Image.fromarray(scene.image).save(root / 'JPEGImages' / f'{img_id}.jpg', quality=95)
            labels = scene.label_map()
            png = Image.fromarray(labels, mode='P')
            png.putpalette(palette)
            png.save(root / 'SegmentationClass' / f'{img_id}.png')
            Image.fromarray(labels, mode='L').save(root / 'SegmentationClassAug' / f'{img_id}.png')
        (root / 'ImageSets/Segmentation' / f'{split}.txt').write_text('\n'.join(ids) + '\n')
        if split == 'train':
            (root / 'ImageSets/Segmentation/aug.txt').write_text('\n'.join(ids) + '\n')
    return root
