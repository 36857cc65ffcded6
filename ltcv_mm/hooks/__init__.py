from .imp_hook import IMPConfigError, IMPHook
from .mask_apply_hook import MaskApplyHook
from .rewind_hook import RewindHook

__all__ = ['IMPHook', 'IMPConfigError', 'MaskApplyHook', 'RewindHook']
