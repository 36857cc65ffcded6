"""What the demo runs, with the defaults that finish in about 10 minutes on 2 CPU cores."""
from __future__ import annotations

from dataclasses import asdict, dataclass

PRETRAININGS = ('supervised', 'simclr', 'mocov2')
TASKS = ('detection', 'segmentation')


@dataclass
class DemoSettings:
    width: int = 8                 # channels of ResNet-50's first stage (64 = full width)
    feat: int = 32                 # channels of FPN / heads of the transfer models
    cls_size: int = 32             # classification images (digits), pixels
    scene_size: int = 64           # detection / segmentation scenes, pixels
    per_class: int = 30            # classification images per digit (train); a third as many for val
    train_scenes: int = 48
    val_scenes: int = 16
    pretrain_epochs: int = 4       # dense pre-training from scratch
    imp_rounds: int = 3            # prunings: sparsities 40 %, 64 %, 78.4 % at imp_rate 0.4
    imp_rate: float = 0.4          # the paper's 0.2 needs twice the rounds for the same sparsity
    round_epochs: int = 1          # epochs per IMP round
    transfer_epochs: int = 3       # detection: epochs of the transfer fine-tuning
    seg_iters: int = 45            # segmentation (iteration-based stock schedule)
    batch_size: int = 8
    scene_classes: str = 'digit'  # scenes: 'digit' (one class, learnable in a short CPU schedule) or 'digits' (0-9)
    pretrainings: tuple[str, ...] = PRETRAININGS
    tasks: tuple[str, ...] = TASKS
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def smallest(cls) -> 'DemoSettings':
        """The fewest images, epochs and rounds that still run every stage (the tests)."""
        return cls(per_class=6, train_scenes=8, val_scenes=4, pretrain_epochs=1, imp_rounds=1,
                   transfer_epochs=1, seg_iters=4, batch_size=4)
