"""The authors' detection optimisation as their loop runs it: accumulated gradients summed
(ltcv.SummedAccumulationOptimWrapper) and the cosine schedule stepped at t = N / 8 * epoch + i
(ltcv.SawtoothCosineLR), against independent statements of both."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper

import ltcv_mm  # noqa: F401
from ltcv_mm.optim import SawtoothCosineLR, SummedAccumulationAmpOptimWrapper, SummedAccumulationOptimWrapper


def _step_twice(wrapper_cls) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1, bias=False)
    start = model.weight.detach().clone()
    wrapper = wrapper_cls(torch.optim.SGD(model.parameters(), lr=1.0), accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 2)
    grads = []
    for _ in range(2):
        x = torch.randn(3, 4)
        loss = model(x).pow(2).mean()
        grads.append(torch.autograd.grad(loss, model.weight, retain_graph=True)[0])
        wrapper.update_params(loss)
    return model.weight.detach() - start, grads[0] + grads[1]


def test_accumulated_gradients_are_summed_as_the_authors_loop_does():
    moved, summed = _step_twice(SummedAccumulationOptimWrapper)
    assert torch.allclose(moved, -summed, atol=1e-7)
    moved, summed = _step_twice(OptimWrapper)  # mmengine's own: the mean
    assert torch.allclose(moved, -summed / 2, atol=1e-7)
    assert SummedAccumulationAmpOptimWrapper.scale_loss is SummedAccumulationOptimWrapper.scale_loss


def _authors_lr(t: float, n: int, epochs: int, warmup_epochs: int, lr: float, lr_min: float) -> float:
    """utils/cosine_lr_scheduler.py's CosineDecayLR.step(t), T_max = epochs * N, warm-up warmup_epochs * N."""
    warmup, t_max = warmup_epochs * n, epochs * n
    if warmup and t < warmup:
        return lr / warmup * t
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos((t - warmup) / (t_max - warmup) * math.pi))


@pytest.mark.parametrize('stride', [1 / 8, 1.0])
def test_schedule_equals_the_authors_stepping_iteration_by_iteration(stride):
    n, epochs = 24, 20
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    # as the Runner builds it from an epoch-based config with convert_to_iter_based=True
    sched = SawtoothCosineLR.build_iter_from_epoch(optimizer=opt, epochs=epochs, warmup_epochs=2, epoch_stride=stride,
                                                   eta_min=1e-6, by_epoch=True, epoch_length=n)
    seen = []
    for epoch in range(epochs):
        for i in range(n):
            seen.append(opt.param_groups[0]['lr'])  # the lr this iteration trains with
            opt.step()
            sched.step()
            want = _authors_lr(stride * n * epoch + i, n, epochs, 2, 1e-4, 1e-6)
            assert seen[-1] == pytest.approx(want, rel=1e-12, abs=1e-18), (epoch, i)
    if stride == 1:  # as configured: warm-up, then down to about 1e-6
        assert seen[0] == 0 and seen[-1] < 2e-6
    else:  # as the authors' loop runs it: each epoch restarts the warm-up a little higher, never decays far
        starts = [seen[e * n] for e in range(epochs)]
        assert all(a < b for a, b in zip(starts[:15], starts[1:16]))
        assert seen[n - 1] > starts[1]  # a saw-tooth: epoch 0 ends above where epoch 1 starts
        assert min(seen[16 * n:]) > 0.95e-4


def test_bad_settings_are_refused_by_name():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    with pytest.raises(ValueError, match='SawtoothCosineLR: need epoch_length >= 1'):
        SawtoothCosineLR(opt, epoch_length=10, epochs=2, warmup_epochs=2)
    with pytest.raises(ValueError, match='convert_to_iter_based=True'):
        SawtoothCosineLR(opt, epoch_length=10, epochs=5, by_epoch=True)
