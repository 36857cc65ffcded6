"""Inference export of a fine-tuned ticket: convs that run faster as sparse-dense matrix products do so.

A conv with weight W (out x in x k x k) computes W' @ cols, where W' is W
flattened to (out, in k k) and cols the input unfolded to (in k k, N H W);
with most of W zero, W' can be a CSR matrix (``torch.sparse_csr``) and the
product a sparse-dense one. Whether that is faster depends on the layer's
shapes, its sparsity and the machine's kernels, so ``export_sparse`` times
both forms on the layer's real input (recorded from one forward of an
example batch) and keeps the faster: no layer gets slower in its own
calibration. 1x1 convs need no unfolding (a strided one subsamples first);
k x k convs go through ``F.unfold``, which usually costs more than the
sparsity saves, and then stay dense.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .masking import detach_ticket, ticket_holders

# torch says so once per process, at the first CSR tensor; only that notice is silenced
warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta', category=UserWarning)


class CSRConv2d(nn.Module):
    """An ``nn.Conv2d`` (groups 1) for inference, its weight a CSR matrix; same outputs.

    The CSR matrix is kept as its three dense parts (row pointers, column
    indices, values), non-persistent buffers: a CSR tensor is not moved by
    ``.to()`` as an attribute and cannot be deep-copied at all, while these
    follow the module to any device and dtype and into copies, and never
    appear in a state dict. The matrix is assembled from them per forward
    (no copy).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.groups != 1:
            raise ValueError(f'CSRConv2d: grouped convs are not supported (groups={conv.groups})')
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError(f'CSRConv2d: padding {conv.padding!r} / {conv.padding_mode!r} is not supported')
        w = conv.weight.detach()
        self.out_channels = w.shape[0]
        self.kernel_size, self.stride = tuple(conv.kernel_size), tuple(conv.stride)
        self.padding, self.dilation = tuple(conv.padding), tuple(conv.dilation)
        csr = w.reshape(w.shape[0], -1).to_sparse_csr()
        self.in_features = csr.shape[1]  # in x k x k
        self.register_buffer('crow_indices', csr.crow_indices().clone(), persistent=False)
        self.register_buffer('col_indices', csr.col_indices().clone(), persistent=False)
        self.register_buffer('values', csr.values().clone(), persistent=False)
        self.register_buffer('bias', None if conv.bias is None else conv.bias.detach().clone(), persistent=False)
        self.density = float(torch.count_nonzero(w)) / w.numel()

    @property
    def weight(self) -> torch.Tensor:
        """The (out, in k k) CSR matrix, assembled from the buffers where they are now."""
        # the parts came from a valid CSR tensor: checking them again each forward would only cost time
        return torch.sparse_csr_tensor(self.crow_indices, self.col_indices, self.values,
                                       (self.out_channels, self.in_features), check_invariants=False)

    def _pointwise(self) -> bool:
        return self.kernel_size == (1, 1) and self.padding == (0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # unbatched (C, H, W), as nn.Conv2d takes it
            return self.forward(x.unsqueeze(0)).squeeze(0)
        if x.dim() != 4:
            raise ValueError(f'CSRConv2d: expected a (N, C, H, W) or (C, H, W) input, got shape {tuple(x.shape)}')
        n = x.shape[0]
        if self._pointwise():
            if self.stride != (1, 1):
                x = x[:, :, ::self.stride[0], ::self.stride[1]]
            oh, ow = x.shape[2], x.shape[3]
            cols = x.transpose(0, 1).reshape(x.shape[1], -1)  # (in, N OH OW)
        else:
            cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)  # (N, in k k, L)
            oh = (x.shape[2] + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) \
                // self.stride[0] + 1
            ow = (x.shape[3] + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) \
                // self.stride[1] + 1
            cols = cols.transpose(0, 1).reshape(cols.shape[1], -1)
        y = torch.sparse.mm(self.weight, cols).reshape(self.out_channels, n, oh, ow).transpose(0, 1)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y.contiguous()

    def extra_repr(self) -> str:
        return (f'{self.in_features}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, density={self.density:.3f}')


@dataclass(frozen=True)
class LayerChoice:
    name: str
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    sparsity: float
    dense_s: float      # best of the timed repeats, seconds
    sparse_s: float
    chosen: str         # 'sparse' or 'dense'
    note: str = ''      # why a layer stays dense whatever the timing (a dtype the CSR kernels lack)

    @property
    def speedup(self) -> float:
        return self.dense_s / self.sparse_s


def _best_time(fn, x: torch.Tensor, repeats: int) -> float:
    fn(x)  # warm-up: allocations, kernel selection
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - start)
    return best


def _candidates(model: nn.Module, min_sparsity: float) -> dict[str, nn.Conv2d]:
    out = {}
    for name, m in model.named_modules():
        if type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == 'zeros' and not isinstance(m.padding, str):
            sparsity = 1.0 - float(torch.count_nonzero(m.weight)) / m.weight.numel()
            if sparsity >= min_sparsity:
                out[name] = m
    return out


@torch.no_grad()
def export_sparse(model: nn.Module, example: torch.Tensor | Callable[[], object], min_sparsity: float = 0.5,
                  repeats: int = 5, force: str | None = None) -> list[LayerChoice]:
    """Replace, in place, every conv of ``model`` (eval mode) whose weights are at least
    ``min_sparsity`` zero and that runs faster as a ``CSRConv2d`` on its input in one forward of
    ``example`` (an input batch, or a function that runs the model's forward, e.g. a detector's
    ``lambda: model.extract_feat(x)``); returns what was measured and chosen per layer, in network order.

    A ticket attached to the model (SparseBackbone, MaskApplyHook) is applied
    once and detached: the exported model is for inference, its weights
    fixed. ``force='sparse'`` or ``'dense'`` skips the timing (tests). A layer
    whose dtype and device the CSR kernels lack (half or bfloat16 on the CPU)
    stays dense, with a ``note``. An export that fails leaves the model as it
    was (its ticket attached, its train mode): nothing is replaced until every
    layer has been measured.
    """
    if force not in (None, 'sparse', 'dense'):
        raise ValueError(f"force must be None, 'sparse' or 'dense', got {force!r}")
    if isinstance(min_sparsity, bool) or not isinstance(min_sparsity, (int, float)) or not 0 <= min_sparsity <= 1:
        raise ValueError(f'min_sparsity must be a fraction in [0, 1], got {min_sparsity!r}')
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f'repeats must be a whole number >= 1, got {repeats!r}')
    was_training = model.training
    model.eval()
    holders = ticket_holders(model)
    for m, masks in holders:
        masks.apply(m)  # the weights as the ticket holds them (they already are, between steps)
    try:
        choices, replacements = _measure(model, example, min_sparsity, repeats, force)
    except BaseException:
        model.train(was_training)
        raise
    for m, _ in holders:
        detach_ticket(m)
    for name, sparse in replacements.items():
        parent_name, _, child = name.rpartition('.')
        setattr(model.get_submodule(parent_name) if parent_name else model, child, sparse)
    return choices


def _measure(model: nn.Module, example, min_sparsity: float, repeats: int,
             force: str | None) -> tuple[list[LayerChoice], dict[str, CSRConv2d]]:
    """Each candidate conv's choice, and the CSR layers that would replace the chosen ones."""
    convs = _candidates(model, min_sparsity)
    inputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: inputs.setdefault(name, args[0].clone()))
               for name, m in convs.items()]
    try:
        with torch.no_grad():
            model(example) if isinstance(example, torch.Tensor) else example()
    finally:
        for h in handles:
            h.remove()
    choices, replacements = [], {}
    for name, conv in convs.items():
        if name not in inputs:  # not reached by the example's forward
            continue
        x = inputs[name]
        sparse = CSRConv2d(conv)
        note = _unsupported(sparse, x)
        if note:
            dense_s = sparse_s = float('nan')
            chosen = 'dense'
        elif force is None:
            dense_s, sparse_s = _best_time(conv, x, repeats), _best_time(sparse, x, repeats)
            chosen = 'sparse' if sparse_s < dense_s else 'dense'
        else:
            dense_s = sparse_s = float('nan')
            chosen = force
        choices.append(LayerChoice(name, tuple(x.shape), tuple(conv.weight.shape), 1.0 - sparse.density,
                                   dense_s, sparse_s, chosen, note))
        if chosen == 'sparse':
            replacements[name] = sparse
    return choices, replacements


def _unsupported(sparse: 'CSRConv2d', x: torch.Tensor) -> str:
    """Why the CSR layer cannot run on ``x`` here ('' when it can): torch has no sparse CSR matmul
    for half or bfloat16 on the CPU."""
    try:
        with torch.no_grad():
            sparse(x[:1])
    except (NotImplementedError, RuntimeError) as e:
        return f'kept dense: no CSR kernel for {x.dtype} on {x.device.type} ({str(e).splitlines()[0][:80]})'
    return ''
