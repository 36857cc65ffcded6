"""SmallNORB read from its official files (the cross-dataset transfer of Mehta 2019)."""
from __future__ import annotations

import os.path as osp
import struct

import numpy as np
from mmengine.dataset import BaseDataset

from ..registry import DATASETS

# The binary matrix format of the NORB files (cs.nyu.edu/~ylclab/data/norb-v1.0-small): little-endian
# int32 magic (element type), int32 ndim, max(3, ndim) int32 dimensions, then the elements.
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}
FILES = {'train': 'smallnorb-5x46789x9x18x6x2x96x96-training-{}.mat',
         'test': 'smallnorb-5x01235x9x18x6x2x96x96-testing-{}.mat'}
CLASSES = ('animal', 'human', 'airplane', 'truck', 'car')


def read_norb_matrix(path: str) -> np.ndarray:
    """One NORB ``.mat`` file as an array of its declared type and shape."""
    with open(path, 'rb') as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f'{path}: not a NORB matrix file (shorter than its header)')
        magic, ndim = struct.unpack('<ii', head)
        dtype = MAGIC.get(magic & 0xFFFFFFFF)
        if dtype is None or not 0 < ndim <= 8:
            raise ValueError(f'{path}: not a NORB matrix file (magic {magic & 0xFFFFFFFF:#x}, ndim {ndim}); '
                             f'the uint8 images have magic 0x1e3d4c55, the int32 labels 0x1e3d4c54')
        dims = struct.unpack(f'<{max(3, ndim)}i', f.read(4 * max(3, ndim)))[:ndim]
        data = np.frombuffer(f.read(), dtype=np.dtype(dtype).newbyteorder('<'))
    expected = int(np.prod(dims))
    if data.size != expected:
        raise ValueError(f'{path}: holds {data.size} elements, its header declares {dims} = {expected}')
    return data.reshape(dims)


@DATASETS.register_module()
class SmallNORB(BaseDataset):
    """The five-class SmallNORB toy images (96 x 96 grey stereo pairs), 24,300 per split.

    Reads the official uncompressed files from ``data_root``
    (``smallnorb-...-{training,testing}-{dat,cat}.mat``). Each item is one
    camera's image (``camera=0`` left, 1 right) as an H x W uint8 array,
    as mmpretrain's MNIST readers give theirs; its pipeline takes it from there.

    Args:
        data_root: folder of the official files.
        split: ``train`` or ``test``.
        camera: which image of each stereo pair.
    """

    METAINFO = {'classes': CLASSES}

    def __init__(self, data_root: str, split: str = 'train', camera: int = 0, **kwargs) -> None:
        if split not in FILES:
            raise ValueError(f'SmallNORB: split must be one of {sorted(FILES)}, got {split!r}')
        if camera not in (0, 1):
            raise ValueError(f'SmallNORB: camera must be 0 (left) or 1 (right), got {camera!r}')
        self.split, self.camera = split, camera
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        dat, cat = (osp.join(self.data_root, FILES[self.split].format(k)) for k in ('dat', 'cat'))
        for path in (dat, cat):
            if not osp.isfile(path):
                raise FileNotFoundError(f'SmallNORB: {path} not found (the official uncompressed '
                                        f'{osp.basename(path)})')
        images, labels = read_norb_matrix(dat), read_norb_matrix(cat)
        if images.ndim != 4 or images.shape[1] != 2 or labels.shape != (images.shape[0],):
            raise ValueError(f'SmallNORB: {dat} holds {images.shape} and {cat} {labels.shape}; expected '
                             f'(N, 2, H, W) stereo pairs and N labels')
        if labels.min() < 0 or labels.max() >= len(CLASSES):
            raise ValueError(f'SmallNORB: {cat} has labels outside 0..{len(CLASSES) - 1}')
        return [{'img': images[i, self.camera], 'gt_label': int(labels[i])} for i in range(len(labels))]
