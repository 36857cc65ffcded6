"""Import of the seed code's masks in each of their layouts, and export back."""
import pytest
import torch
import torch.nn.utils.prune as torch_prune
import torchvision

from ltcv_mm.core import SeedFormatError, Ticket, ticket_from_seed, ticket_to_seed


def _seed_pruned_resnet(seed=0):
    """A ResNet-50 pruned the way the seed code does it (conv1 skipped)."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet50()
    params = [(m, 'weight') for n, m in model.named_modules()
              if isinstance(m, torch.nn.Conv2d) and n != 'conv1']
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.2)
    masks = {n + '.weight': m.weight_mask.bool() for n, m in model.named_modules()
             if isinstance(m, torch.nn.Conv2d) and n != 'conv1'}
    return model, Ticket(masks)


@pytest.fixture(scope='module')
def seed_model():
    return _seed_pruned_resnet()


def test_flat_weight_mask_dict(seed_model):
    model, expected = seed_model
    flat = {k: v for k, v in model.state_dict().items() if 'mask' in k}  # extract_mask()
    assert ticket_from_seed(flat) == expected


def test_checkpoint_with_weight_orig_and_mask(seed_model):
    model, expected = seed_model
    ckpt = {'epoch': 3, 'state_dict': model.state_dict(), 'best_sa': 71.0}
    assert any(k.endswith('weight_orig') for k in ckpt['state_dict'])
    assert ticket_from_seed(ckpt) == expected


def test_mask_entry_and_prefixes(seed_model):
    model, expected = seed_model
    flat = {k: v for k, v in model.state_dict().items() if 'mask' in k}
    assert ticket_from_seed({'mask': {'module.' + k: v for k, v in flat.items()}}) == expected
    moco = {'module.encoder_q.' + k: v for k, v in flat.items()}
    moco.update({'module.encoder_k.' + k: torch.ones_like(v) for k, v in flat.items()})
    assert ticket_from_seed({'state_dict': moco}) == expected


def test_non_binary_mask_is_named():
    bad = {'layer1.0.conv1.weight_mask': torch.tensor([[[[0.0]], [[0.5]]]])}
    with pytest.raises(SeedFormatError, match=r"layer1.0.conv1.weight_mask.*not binary.*0.5"):
        ticket_from_seed(bad, where='masks.pth')


def test_file_without_masks_is_rejected():
    with pytest.raises(SeedFormatError, match=r'x.pth: no "\*.weight_mask" entries'):
        ticket_from_seed({'state_dict': {'conv1.weight': torch.zeros(1)}}, where='x.pth')


def test_export_round_trip_and_load_into_seed_code(seed_model):
    _, expected = seed_model
    flat = ticket_to_seed(expected)
    assert set(flat) == {k + '_mask' for k in expected.masks}
    assert all(v.dtype == torch.float32 for v in flat.values())
    assert ticket_from_seed(flat) == expected
    # the seed code's prune_model_custom: custom_from_mask with the exported masks
    model = torchvision.models.resnet50()
    for name, module in model.named_modules():
        if name + '.weight_mask' in flat:
            torch_prune.custom_from_mask(module, 'weight', mask=flat[name + '.weight_mask'])
    assert ticket_from_seed(model.state_dict()) == expected
    prefixed = ticket_to_seed(expected, prefix='module.')
    assert all(k.startswith('module.layer') for k in prefixed)
