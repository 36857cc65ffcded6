"""How good a pre-trained backbone is on its own: k-NN accuracy of its features on held-out digits.

Features are the globally averaged last-stage outputs of the backbone (eval
mode, the pre-processing of the demo's classifier), L2-normalised; each
held-out image takes the majority label of its k nearest training images by
cosine similarity (ties: the nearest of the tied labels). Chance is 10 %.
The same measure serves the supervised and the self-supervised backbones.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ltcv_mm.analysis.knn import knn_accuracy, pooled_features

MEAN, STD = 127.5, 64.0  # demo.runs._digit_classifier's pre-processing


def _images(root: Path, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of an image-folder split (root/<class>/*.png) as a float batch, with labels."""
    xs, ys = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).glob('*.png')):
            xs.append(np.asarray(Image.open(path).convert('RGB'), dtype=np.float32))
            ys.append(label)
    x = (torch.from_numpy(np.stack(xs)) - MEAN) / STD
    return x.permute(0, 3, 1, 2).contiguous(), torch.tensor(ys)


@torch.no_grad()
def features(backbone: torch.nn.Module, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    backbone.eval()
    return torch.cat([pooled_features(backbone(images[i:i + batch])) for i in range(0, len(images), batch)])


def load_backbone(weights: Path | None, width: int, seed: int = 0, ticket=None) -> torch.nn.Module:
    """A narrow ResNet-50 with the canonical ``weights`` (a file of tools/convert_pretrained.py's form),
    or at random init (None), its weights zeroed where ``ticket`` (a Ticket) prunes (BatchNorm keeps
    the dense network's statistics: the state a fine-tuning of the masked backbone starts from)."""
    from mmpretrain.models import ResNet

    from ltcv_mm.core import check_ticket_fits, mask_state_dict, torch_load_safe
    torch.manual_seed(seed)
    backbone = ResNet(depth=50, stem_channels=width, base_channels=width, out_indices=(3,))
    state = torch_load_safe(str(weights))['state_dict'] if weights is not None else backbone.state_dict()
    if ticket is not None:
        check_ticket_fits(backbone, ticket, what=f'the ticket probed on {weights}')
        mask_state_dict(state, ticket.masks)
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or [u for u in unexpected if not u.startswith('fc.')]:
        raise ValueError(f'{weights}: not a ResNet-50 backbone of width {width} '
                         f'(missing {missing[:3]}, unexpected {unexpected[:3]})')
    return backbone


def backbone_knn(weights: Path | None, width: int, data: Path, classes: tuple[str, ...], k: int = 5,
                 seed: int = 0, ticket=None) -> float:
    """k-NN accuracy on ``data/cls/val`` (neighbours from ``data/cls/train``) of ``load_backbone``'s
    network."""
    backbone = load_backbone(weights, width, seed, ticket)
    x_train, y_train = _images(data / 'cls' / 'train', classes)
    x_val, y_val = _images(data / 'cls' / 'val', classes)
    return knn_accuracy(features(backbone, x_train), y_train, features(backbone, x_val), y_val, k)
