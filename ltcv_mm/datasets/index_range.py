"""IndexRange: a contiguous range of a dataset's items, e.g. the seed code's 45k / 5k split of CIFAR's training set."""
from __future__ import annotations

from typing import Any

from ..registry import DATASETS


@DATASETS.register_module()
class IndexRange:
    """Items ``start`` to ``stop - 1`` of ``dataset``, in the dataset's own order.

    mmengine's ``indices=N`` keeps the first N items of a dataset; the seed
    code's validation sets are the last items of a training set
    (``Subset(train, range(45000, 50000))``), which this wrapper expresses
    without listing the indices in the config. The wrapped dataset's
    ``metainfo`` is passed through, so the stock evaluators see the classes.

    Args:
        dataset: the dataset or its config (built in the caller's scope).
        start, stop: the range; ``stop=None`` means the end.
    """

    def __init__(self, dataset: Any, start: int = 0, stop: int | None = None) -> None:
        if isinstance(dataset, dict):
            from mmengine.registry import DATASETS as ROOT
            dataset = ROOT.build(dataset)
        self.dataset = dataset
        total = len(dataset)
        stop = total if stop is None else stop
        if not 0 <= start < stop <= total:
            raise ValueError(f'IndexRange: [{start}, {stop}) is not a range inside the {total} items of '
                             f'{type(dataset).__name__}' + (f' ({dataset.data_root})' if getattr(
                                 dataset, 'data_root', None) else ''))
        self.start, self.stop = start, stop

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def full_init(self) -> None:
        self.dataset.full_init()

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(self._index(idx))

    def _index(self, idx: int) -> int:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'IndexRange: index {idx} out of range for {len(self)} items')
        return self.start + (idx % len(self))

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[self._index(idx)]

    def __len__(self) -> int:
        return self.stop - self.start

    def __repr__(self) -> str:
        return f'IndexRange({type(self.dataset).__name__}, {self.start}, {self.stop})'
