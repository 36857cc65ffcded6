"""Kernel-wise structure of tickets on known masks, and the ticket tool's kernels / overlap --kernels."""
import pytest
import torch

from ltcv_mm.analysis.kernels import kernel_overlap, kernel_stats, pruned_kernels
from ltcv_mm.core import Ticket, save_ticket

from helpers import ROOT, run_tool


def _ticket():
    a = torch.ones(4, 2, 3, 3, dtype=torch.bool)
    a[0, 0] = False            # one kernel pruned whole
    a[1, 1, 0, 0] = False      # one weight of another kernel
    b = torch.ones(2, 4, 1, 1, dtype=torch.bool)
    b[0, 0] = False            # a 1x1 'kernel': left out by default
    return Ticket({'layer1.0.conv2.weight': a, 'layer1.0.conv3.weight': b})


def test_pruned_kernels_and_stats_on_a_known_mask():
    t = _ticket()
    whole = pruned_kernels(t.masks['layer1.0.conv2.weight'])
    assert whole.shape == (4, 2) and whole.sum() == 1 and whole[0, 0]
    [s] = kernel_stats(t)  # the 1x1 layer is left out
    assert s.layer == 'layer1.0.conv2.weight' and s.kernels == 8 and s.kernel_size == 9
    assert s.sparsity == pytest.approx(10 / 72)
    assert s.pruned_kernels == pytest.approx(1 / 8)
    assert s.random_expected == pytest.approx((10 / 72) ** 9)
    assert s.excess == pytest.approx((1 / 8) / (10 / 72) ** 9)
    assert [x.layer for x in kernel_stats(t, min_kernel_size=1)] == list(t.masks)


def test_random_masks_prune_whole_kernels_at_the_rate_chance_predicts():
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(256, 256, 3, 3, generator=gen) > 0.7  # 70 % sparse
    [s] = kernel_stats(Ticket({'layer1.0.conv2.weight': mask}))
    assert s.pruned_kernels == pytest.approx(0.7 ** 9, rel=0.05)  # 65,536 kernels: within 5 %


def test_kernel_overlap():
    t = _ticket()
    assert kernel_overlap(t, t) == 1.0
    other = t.masks['layer1.0.conv2.weight'].clone()
    other[0, 0] = True
    other[2, 1] = False
    other[3, 1] = False
    u = Ticket({'layer1.0.conv2.weight': other, 'layer1.0.conv3.weight': t.masks['layer1.0.conv3.weight']})
    assert kernel_overlap(t, u) == 0.0  # {(0, 0)} against {(2, 1), (3, 1)}
    other[0, 0] = False
    assert kernel_overlap(t, u) == pytest.approx(1 / 3)
    dense = Ticket({k: torch.ones_like(m) for k, m in t.masks.items()})
    assert kernel_overlap(dense, dense) == 1.0  # neither prunes a kernel


def test_ticket_tool_kernels_and_overlap(tmp_path):
    t = _ticket()
    save_ticket(t, tmp_path / 'a.safetensors')
    out = run_tool(str(ROOT / 'tools/ticket.py'), 'kernels', str(tmp_path / 'a.safetensors'),
                   '--png', str(tmp_path / 'k.png')).stdout
    assert 'layer1.0.conv2.weight' in out and '12.50' in out and 'layer1.0.conv3.weight' not in out
    assert (tmp_path / 'k.png').stat().st_size > 1000
    out = run_tool(str(ROOT / 'tools/ticket.py'), 'overlap', str(tmp_path / 'a.safetensors'),
                   str(tmp_path / 'a.safetensors'), '--kernels').stdout
    assert 'IoU of kept weights' in out and 'IoU of kernels pruned whole' in out
