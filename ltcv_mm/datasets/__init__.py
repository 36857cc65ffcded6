from .index_range import IndexRange
from .random_rescale import RandomRescale
from .smallnorb import SmallNORB

__all__ = ['IndexRange', 'RandomRescale', 'SmallNORB']
