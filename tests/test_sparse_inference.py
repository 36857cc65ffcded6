"""Sparse inference export: same outputs as the dense masked model, and no layer chosen slower."""
import re

import pytest
import torch
import torchvision

from ltcv_mm.core import attach_ticket, attached_masks, prune, select_prunable
from ltcv_mm.core.sparse_inference import CSRConv2d, export_sparse


def _masked_resnet(rate=0.9):
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    ticket = prune(select_prunable(dict(model.named_parameters())), rounds=1, rate=rate)
    attach_ticket(model, ticket)
    return model


@pytest.mark.parametrize('conv', [
    torch.nn.Conv2d(8, 16, 1), torch.nn.Conv2d(8, 16, 1, stride=2, bias=False),
    torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2),
    torch.nn.Conv2d(8, 16, 1, padding=1)])  # a padded 1x1 conv must not take a path that ignores padding
def test_csr_conv_equals_the_dense_conv(conv):
    with torch.no_grad():
        conv.weight.mul_(torch.rand_like(conv.weight) > 0.8)
        x = torch.randn(2, 8, 9, 11)
        torch.testing.assert_close(CSRConv2d(conv)(x), conv(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(CSRConv2d(conv)(x[0]), conv(x[0]), rtol=1e-5, atol=1e-5)  # unbatched, as Conv2d


@pytest.mark.parametrize('option, message', [
    (dict(min_sparsity=1.5), 'min_sparsity must be a fraction in [0, 1], got 1.5'),
    (dict(min_sparsity='0.5'), "min_sparsity must be a fraction in [0, 1], got '0.5'"),
    (dict(repeats=0), 'repeats must be a whole number >= 1, got 0'),
    (dict(repeats=2.5), 'repeats must be a whole number >= 1, got 2.5')])
def test_export_options_are_checked_before_any_work(option, message):
    model = _masked_resnet()
    with pytest.raises(ValueError, match=re.escape(message)):
        export_sparse(model, torch.randn(1, 3, 32, 32), **option)
    assert attached_masks(model) is not None and not any(isinstance(m, CSRConv2d) for m in model.modules())


def test_an_unbatched_example_exports_a_model_that_takes_unbatched_inputs():
    conv = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 4, 1))
    with torch.no_grad():
        for m in (conv[0], conv[2]):
            m.weight.mul_(torch.rand_like(m.weight) > 0.8)
    x = torch.randn(8, 9, 11)
    with torch.no_grad():
        expected = conv(x)
    choices = export_sparse(conv, x, min_sparsity=0.5, force='sparse')
    assert [c.input_shape for c in choices] == [(8, 9, 11), (16, 9, 11)]
    with torch.no_grad():
        torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_exported_model_gives_the_dense_masked_outputs():
    model = _masked_resnet()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    choices = export_sparse(model, x, min_sparsity=0.01, force='sparse')
    assert attached_masks(model) is None  # the ticket was applied once and detached
    assert {c.name for c in choices} == {n for n, m in model.named_modules() if isinstance(m, CSRConv2d)}
    assert len(choices) == 19 and all(c.sparsity > 0.01 for c in choices)  # every conv but the (dense) stem
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


def test_the_choice_is_the_faster_form_in_its_own_calibration():
    model = _masked_resnet(rate=0.95)
    x = torch.randn(1, 3, 64, 64)
    choices = export_sparse(model, x, repeats=3)
    assert choices
    for c in choices:
        assert c.chosen == ('sparse' if c.sparse_s < c.dense_s else 'dense'), c
        kind = CSRConv2d if c.chosen == 'sparse' else torch.nn.Conv2d
        assert type(model.get_submodule(c.name)) is kind
    with pytest.raises(ValueError, match="force must be None, 'sparse' or 'dense'"):
        export_sparse(model, x, force='fast')


def test_exported_layers_follow_the_model_into_copies_and_dtypes():
    import copy
    model = _masked_resnet()
    x = torch.randn(1, 3, 32, 32)
    export_sparse(model, x, min_sparsity=0.01, force='sparse')
    with torch.no_grad():
        expected = model(x)
        copied = copy.deepcopy(model)  # a CSR tensor cannot be deep-copied; its parts can
        torch.testing.assert_close(copied(x), expected)
        wide = copied.to(torch.float64)
        layer = wide.get_submodule('layer1.0.conv1')
        assert layer.values.dtype == torch.float64 and layer.weight.dtype == torch.float64
        assert layer.crow_indices.dtype == torch.int64  # indices stay indices
        torch.testing.assert_close(wide(x.double()), expected.double(), rtol=1e-4, atol=1e-4)
        meta = copy.deepcopy(model).to('meta')
        assert meta.get_submodule('layer1.0.conv1').values.device.type == 'meta'
    assert not [k for k in model.state_dict() if k.endswith(('values', 'crow_indices', 'col_indices'))]


@pytest.mark.parametrize('dtype', [torch.half, torch.bfloat16])
def test_half_precision_layers_stay_dense_with_a_note(dtype):
    """torch has no CSR matmul for half or bfloat16 on the CPU: those layers stay dense (the timing pass
    used to raise NotImplementedError with the ticket already detached)."""
    model = _masked_resnet().to(dtype)
    x = torch.randn(1, 3, 32, 32, dtype=dtype)
    with torch.no_grad():
        expected = model(x)
    choices = export_sparse(model, x, min_sparsity=0.01, repeats=1)
    assert len(choices) == 19 and all(c.chosen == 'dense' and str(dtype) in c.note for c in choices)
    assert not any(isinstance(m, CSRConv2d) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_a_failed_export_leaves_the_model_as_it_was():
    model = _masked_resnet().train()

    def broken_forward():
        raise RuntimeError('the example does not fit the model')
    with pytest.raises(RuntimeError, match='does not fit'):
        export_sparse(model, broken_forward)
    assert attached_masks(model) is not None and model.training
    assert not any(isinstance(m, CSRConv2d) for m in model.modules())
