from .index_range import IndexRange
from .random_rescale import RandomRescale

__all__ = ['IndexRange', 'RandomRescale']
