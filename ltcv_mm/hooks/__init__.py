from .dense_norm_lars_hook import DenseNormLARSHook
from .gmp_hook import GMPHook
from .imp_hook import IMPConfigError, IMPHook
from .knn_val_loop import KNNValLoop
from .mask_apply_hook import MaskApplyHook
from .retired import RewindHook
from .start_weights_hook import StartWeightsHook
from .sync_bn_fallback_hook import SyncBNFallbackHook
from .total_batch_hook import LaunchError, TotalBatchHook

__all__ = ['DenseNormLARSHook', 'GMPHook', 'IMPHook', 'IMPConfigError', 'KNNValLoop', 'MaskApplyHook', 'RewindHook',
           'StartWeightsHook', 'SyncBNFallbackHook', 'TotalBatchHook', 'LaunchError']
