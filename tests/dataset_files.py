"""Writers of the data formats only the tests use (the demo's are in demo/formats.py): SmallNORB's binary
matrices (ltcv.SmallNORB) and VOC xml detection (mmdet VOCDataset), each in the layout the stock config of
that reader expects under its ``data_root``."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Sequence
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image

from demo.digits import Scene


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
