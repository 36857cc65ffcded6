"""k-nearest-neighbour classification on a backbone's features: how a self-supervised backbone is judged
on its own task when it predicts no class (Wu et al., CVPR 2018, as the SSL literature reports it)."""
from __future__ import annotations

import torch


def pooled_features(stages) -> torch.Tensor:
    """The last stage of a backbone's outputs (a tensor or a tuple of stages), averaged over space and
    L2-normalised: one row per image."""
    last = stages[-1] if isinstance(stages, (tuple, list)) else stages
    return torch.nn.functional.normalize(last.float().mean(dim=(2, 3)), dim=1)


def knn_scores(queries: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, num_classes: int,
               k: int = 5) -> torch.Tensor:
    """Class scores of each query row: the votes of its ``k`` most cosine-similar bank rows, one each,
    divided by ``k`` (a tiny bonus for nearness breaks ties toward the nearest label)."""
    if len(bank) == 0:
        raise ValueError('k-NN: the feature bank is empty')
    sims = queries @ bank.T
    top = sims.topk(min(k, len(bank)), dim=1)
    votes = torch.zeros(len(queries), num_classes, dtype=sims.dtype, device=sims.device)
    votes.scatter_add_(1, bank_labels.to(sims.device)[top.indices], 1.0 + 1e-3 * top.values)
    return votes / top.indices.shape[1]


def knn_accuracy(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, labels: torch.Tensor,
                 k: int = 5) -> float:
    """Top-1 accuracy (%) of the k-NN vote of each query row."""
    num_classes = int(max(int(bank_labels.max()), int(labels.max()))) + 1
    scores = knn_scores(queries, bank, bank_labels, num_classes, k)
    return 100.0 * float((scores.argmax(dim=1) == labels.to(scores.device)).float().mean())
