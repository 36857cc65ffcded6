"""Argument checks the analysis tools share: each refuses a bad value before any work, naming the option."""
from __future__ import annotations

import argparse
import math
from pathlib import Path


def number_in(lo: float, hi: float = math.inf, what: str = 'a finite number'):
    """An argparse type: a finite float in [lo, hi] (no upper bound by default)."""
    bounds = f'>= {lo:g}' if hi == math.inf else f'in [{lo:g}, {hi:g}]'

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be {what}, got {text!r}') from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f'must be {what} {bounds}, got {text!r}')
        return value
    return parse


def whole_number(lo: int, hi: int = 2 ** 63 - 1):
    """An argparse type: an int in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be a whole number, got {text!r}') from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f'must be a whole number in [{lo}, {hi}], got {text!r}')
        return value
    return parse


def existing_file(path: str | None, option: str) -> None:
    """``path`` (given for ``option``) is a readable file, not a folder, a device or a missing name."""
    from ltcv_mm.core.safetensors_header import why_unreadable
    problem = None if path is None else why_unreadable(path)
    if problem:
        raise SystemExit(f'error: {option} {path}: {problem} (a file is needed)')


def output_file(path: str | None, option: str) -> None:
    """``path`` (given for ``option``) can be written: not a folder, in a folder that exists."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise SystemExit(f'error: {option} {path} is a folder; give a file name')
    if not p.parent.is_dir():
        raise SystemExit(f'error: {option} {path}: the folder {p.parent} does not exist')
