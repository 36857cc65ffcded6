"""Hooks of earlier versions, kept registered so that old configs fail with the line to write instead."""
from __future__ import annotations

from ..core.imp_settings import IMPConfigError
from ..registry import HOOKS


@HOOKS.register_module()
class RewindHook:
    """Folded into IMPHook (``rewind=``, ``rewind_at=``): building it raises with the replacement."""

    def __init__(self, mode: str = 'pt', rewind_at: int | str = 0, **_) -> None:
        at = f', rewind_at={rewind_at!r}' if rewind_at != 0 else ''
        raise IMPConfigError(
            f"ltcv.RewindHook is gone: IMPHook owns the whole IMP run (rewind point, ticket, rounds). "
            f"Replace the three hooks dict(type='ltcv.MaskApplyHook'), dict(type='ltcv.RewindHook', "
            f"mode={mode!r}{at}), dict(type='ltcv.IMPHook', ...) by the one hook "
            f"dict(type='ltcv.IMPHook', ..., rewind={mode!r}{at}), or inherit "
            f"configs/_base_/rewind/{mode}.py; see the README, 'IMP configs'")
