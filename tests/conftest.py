"""Shared fixtures: tiny data and weights the tests make themselves (no download)."""
from __future__ import annotations

import os

import pytest
import torch
import torchvision

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope='session')
def resnet50_state() -> dict[str, torch.Tensor]:
    """A randomly initialised torchvision ResNet-50, as its state dict (with fc)."""
    torch.manual_seed(0)
    return {k: v.clone() for k, v in torchvision.models.resnet50().state_dict().items()}
