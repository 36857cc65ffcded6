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


def kernel_heatmaps(ticket: Ticket, layers: Sequence[str], path: Path, title: str = '') -> Path:
    """One panel per layer: its (out x in) kernels, dark where the whole k x k kernel is pruned
    (the paper's Figure 7), with the fraction pruned whole against a random mask's."""
    from .kernels import kernel_stats, pruned_kernels
    stats = {s.layer: s for s in kernel_stats(ticket, min_kernel_size=1)}
    fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers), 3.4), squeeze=False)
    for ax, layer in zip(axes[0], layers):
        if layer not in ticket.masks:
            raise KeyError(f'{layer!r} is not a layer of the ticket (first: {list(ticket.masks)[:3]})')
        whole = pruned_kernels(ticket.masks[layer]).numpy()
        ax.imshow(~whole, cmap='gray', vmin=0, vmax=1, interpolation='nearest', aspect='auto')
        s = stats[layer]
        ax.set_title(f'{layer.replace(".weight", "")}\n{100 * s.pruned_kernels:.1f} % whole '
                     f'(random {100 * s.random_expected:.1f} %)', fontsize=8)
        ax.set_xlabel('input channel', fontsize=7)
        ax.set_ylabel('output channel', fontsize=7)
    fig.suptitle(title or 'kernels pruned whole (black)', fontsize=9)
    return _save(fig, path)


def sensitivity_curves(results: dict[str, dict[float, list[float]]], metric: str, path: Path,
                       title: str = '') -> Path:
    """Metric against the noise scale and against the flipped fraction, mean and sd of the draws."""
    kinds = [k for k in ('noise', 'flips') if results.get(k)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.6), squeeze=False)
    labels = {'noise': 'noise scale (x layer sd of kept weights)', 'flips': 'fraction of kept weights flipped'}
    for ax, kind in zip(axes[0], kinds):
        levels = sorted(results[kind])
        means = [float(np.mean(results[kind][x])) for x in levels]
        sds = [float(np.std(results[kind][x], ddof=1)) if len(results[kind][x]) > 1 else 0.0 for x in levels]
        ax.errorbar(levels, means, yerr=sds, marker='o', capsize=3)
        ax.set_xlabel(labels[kind])
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(title or 'sensitivity', fontsize=9)
    return _save(fig, path)


def path_curve(alphas: Sequence[float], values: Sequence[float] | dict[str, Sequence[float]], metric: str,
               path: Path, title: str = '') -> Path:
    """The metric along the linear path between two trained copies (instability analysis); ``values``
    may hold several paths by label (a ticket and the dense model), each with the mean of its ends."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    series = values if isinstance(values, dict) else {'': values}
    for label, vals in series.items():
        line, = ax.plot(alphas, vals, marker='o', markersize=3, label=label or None)
        ax.axhline((vals[0] + vals[-1]) / 2, linestyle=':', color=line.get_color(),
                   label=f'{label + ": " if label else ""}mean of the ends')
    ax.set_xlabel('interpolation alpha (copy A -> copy B)')
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title or 'linear path', fontsize=9)
    return _save(fig, path)
