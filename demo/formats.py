"""Writers of the standard on-disk data formats the stock OpenMMLab readers take.

Image folders (mmpretrain CustomDataset), MNIST idx files (mmpretrain
MNIST / FashionMNIST), SmallNORB's binary matrices (ltcv.SmallNORB), COCO instances json with boxes and polygon masks
(mmdet CocoDataset), VOC xml detection (mmdet VOCDataset) and VOC
segmentation pngs (mmseg PascalVOCDataset). Each writes the layout the stock
config of that reader expects under its ``data_root``.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Sequence
from xml.etree import ElementTree as ET

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


def write_smallnorb(root: Path, split: str, images: np.ndarray, labels: np.ndarray) -> Path:
    """SmallNORB's official uncompressed files for ``split`` ('training' or 'testing'): the N x 2 x H x W
    uint8 stereo pairs (``-dat.mat``, magic 0x1E3D4C55) and N int32 labels (``-cat.mat``, 0x1E3D4C54),
    little-endian headers with at least three dimensions."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stem = {'training': 'smallnorb-5x46789x9x18x6x2x96x96-training', 'testing':
            'smallnorb-5x01235x9x18x6x2x96x96-testing'}[split]
    for kind, magic, array in (('dat', 0x1E3D4C55, images.astype(np.uint8)),
                               ('cat', 0x1E3D4C54, labels.astype('<i4'))):
        dims = list(array.shape) + [1] * (3 - array.ndim)
        header = struct.pack('<II', magic, array.ndim) + struct.pack(f'<{len(dims)}i', *dims)
        (root / f'{stem}-{kind}.mat').write_bytes(header + array.tobytes())
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


def write_voc_detection(devkit: Path, year: str, split: str, scenes: Sequence[Scene],
                        class_names: Sequence[str], start: int = 0) -> Path:
    """devkit/VOC<year>/{JPEGImages,Annotations}, ImageSets/Main/<split>.txt (1-based pixel boxes)."""
    root = Path(devkit) / f'VOC{year}'
    for d in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
        (root / d).mkdir(parents=True, exist_ok=True)
    ids = []
    for i, scene in enumerate(scenes, start):
        img_id = f'{year}_{i:06d}'
        ids.append(img_id)
        Image.fromarray(scene.image).save(root / 'JPEGImages' / f'{img_id}.jpg', quality=95)
        h, w = scene.image.shape[:2]
        ann = ET.Element('annotation')
        ET.SubElement(ann, 'filename').text = f'{img_id}.jpg'
        size = ET.SubElement(ann, 'size')
        for k, v in (('width', w), ('height', h), ('depth', 3)):
            ET.SubElement(size, k).text = str(v)
        for label, (x1, y1, x2, y2) in zip(scene.labels, scene.boxes):
            obj = ET.SubElement(ann, 'object')
            ET.SubElement(obj, 'name').text = class_names[label]
            ET.SubElement(obj, 'difficult').text = '0'
            box = ET.SubElement(obj, 'bndbox')
            for k, v in (('xmin', x1 + 1), ('ymin', y1 + 1), ('xmax', x2), ('ymax', y2)):
                ET.SubElement(box, k).text = str(int(v))
        ET.ElementTree(ann).write(root / 'Annotations' / f'{img_id}.xml')
    (root / 'ImageSets/Main' / f'{split}.txt').write_text('\n'.join(ids) + '\n')
    return root


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
