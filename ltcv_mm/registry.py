"""The plugin's registries: children of mmengine's roots under the scope ``ltcv``.

Configs of any OpenMMLab package reach them as ``type='ltcv.<Name>'``.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='ltcv', locations=['ltcv_mm.models'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='ltcv', locations=['ltcv_mm.hooks'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='ltcv', locations=['ltcv_mm.hooks'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='ltcv', locations=['ltcv_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='ltcv', locations=['ltcv_mm.datasets'])
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope='ltcv', locations=['ltcv_mm.optim'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='ltcv', locations=['ltcv_mm.optim'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope='ltcv',
                            locations=['ltcv_mm.optim'])
