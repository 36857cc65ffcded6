from .dense_norm_lars import DenseNormLARS

__all__ = ['DenseNormLARS']
