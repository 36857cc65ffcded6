from .index_range import IndexRange
from .pad_if_needed import PadIfNeeded
from .random_rescale import RandomRescale
from .smallnorb import SmallNORB
from .yolo_box_augment import BoxSafeCrop, BoxSafeTranslate, LetterBox

__all__ = ['BoxSafeCrop', 'BoxSafeTranslate', 'IndexRange', 'LetterBox', 'PadIfNeeded', 'RandomRescale', 'SmallNORB']
