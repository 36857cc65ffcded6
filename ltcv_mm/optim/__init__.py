from .dense_norm_lars import DenseNormLARS
from .sawtooth_cosine_lr import SawtoothCosineLR
from .summed_accumulation import SummedAccumulationAmpOptimWrapper, SummedAccumulationOptimWrapper

__all__ = ['DenseNormLARS', 'SawtoothCosineLR', 'SummedAccumulationAmpOptimWrapper', 'SummedAccumulationOptimWrapper']
