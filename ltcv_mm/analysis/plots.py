"""Figures of tickets and IMP runs, written as png files (matplotlib, no display)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use('Agg')  # files only: works on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core import Ticket, atomic_write_bytes  # noqa: E402


def _save(fig, path: Path) -> Path:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def overlap_matrix(tickets: Sequence[Ticket]) -> np.ndarray:
    n = len(tickets)
    m = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            m[i, j] = m[j, i] = tickets[i].overlap(tickets[j])
    return m


def overlap_heatmap(matrix: np.ndarray, names: Sequence[str], path: Path, title: str = '') -> Path:
    """IoU of kept weights between every pair of tickets, annotated."""
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.2 * n + 2, 1.1 * n + 1.2))
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap='viridis')
    ax.set_xticks(range(n), names, rotation=30, ha='right')
    ax.set_yticks(range(n), names)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f'{matrix[i, j]:.3f}', ha='center', va='center',
                    color='black' if matrix[i, j] > 0.6 else 'white', fontsize=9)
    fig.colorbar(im, ax=ax, label='IoU of kept weights')
    ax.set_title(title or 'mask overlap')
    return _save(fig, path)


def layer_sparsity_chart(tickets: Sequence[Ticket], names: Sequence[str], path: Path) -> Path:
    """Per-layer sparsity of each ticket, layers in network order (stem first, layer4 last)."""
    layers = list(tickets[0].masks)
    fig, ax = plt.subplots(figsize=(max(8, 0.17 * len(layers) + 2), 4))
    width = 0.8 / len(tickets)
    x = np.arange(len(layers))
    for k, (t, name) in enumerate(zip(tickets, names)):
        sp = t.layer_sparsity()
        ax.bar(x + k * width - 0.4 + width / 2, [100 * sp[layer] for layer in layers], width,
               label=f'{name} ({100 * t.sparsity:.1f} % overall)')
    ax.set_xticks(x, [layer.replace('.weight', '') for layer in layers], rotation=90, fontsize=6)
    ax.set_ylabel('sparsity (%)')
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title('per-layer sparsity')
    return _save(fig, path)


def metric_curves(series: dict[str, Sequence[tuple[float, ...]]], path: Path, ylabel: str,
                  title: str = '', dense: dict[str, float] | None = None) -> Path:
    """Metric against sparsity (%), one line per series, points ``(x, y)`` or ``(x, y, error)``
    (drawn as error bars); dense baselines as horizontal lines."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = {}
    for name, points in series.items():
        if not points:
            continue
        points = sorted(points)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        errs = [p[2] if len(p) > 2 else 0.0 for p in points]
        style = '--' if 'random' in name else '-'
        key = name.split(' ')[0]
        line = ax.errorbar(xs, ys, yerr=errs, fmt=style, marker='o', capsize=3, label=name,
                           color=colours.get(key)).lines[0]
        colours.setdefault(key, line.get_color())
    for name, value in (dense or {}).items():
        ax.axhline(value, linestyle=':', linewidth=1, color=colours.get(name.split(' ')[0], 'grey'),
                   label=f'{name} dense')
    ax.set_xlabel('sparsity of the backbone (%)')
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
