from .index_range import IndexRange
from .pad_if_needed import PadIfNeeded
from .random_rescale import RandomRescale
from .smallnorb import SmallNORB

__all__ = ['IndexRange', 'PadIfNeeded', 'RandomRescale', 'SmallNORB']
