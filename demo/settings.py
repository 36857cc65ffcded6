"""What the demo runs, with the defaults that finish within 15 minutes on 2 CPU cores."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

PRETRAININGS = ('supervised', 'simclr', 'mocov2')
TASKS = ('detection', 'segmentation')
INSTABILITY_MODES = ('ticket', 'dense')  # the backbones of the instability analysis
# settings added after demo folders existed, with the value that reproduces the runs made before them
# (a folder without the setting holds this value, which may differ from today's default)
ADDED_LATER = {'instability_alphas': 0, 'detection_backbone_lr_mult': 1.0, 'reverse_ticket': True}


def read_saved(path: Path) -> dict | None:
    """The settings a demo folder's ``settings.json`` holds (None where there is none), a setting added after
    it was written at the value that reproduces its runs (``ADDED_LATER``)."""
    return {**ADDED_LATER, **json.loads(path.read_text())} if path.is_file() else None


@dataclass
class DemoSettings:
    width: int = 8                 # channels of ResNet-50's first stage (64 = full width)
    feat: int = 32                 # channels of FPN / heads of the transfer models
    cls_size: int = 32             # classification images (digits), pixels
    scene_size: int = 64           # detection / segmentation scenes, pixels
    per_class: int = 130           # classification images per digit (train, of 135); a third as many for val
    train_scenes: int = 48
    val_scenes: int = 24
    pretrain_epochs: int = 8       # dense pre-training from scratch
    pretrain_batch: int = 32
    moco_queue: int = 512          # MoCo's queue of negative keys (stock 65,536 > the data set)
    crop_min: float = 0.5          # random crops keep at least this fraction of a digit image
    imp_rounds: int = 5            # prunings: sparsities 45 %, 69.8 %, 83.4 %, 90.8 %, 95.0 % at imp_rate 0.45
    imp_rate: float = 0.45         # the paper's 0.2 needs eight rounds for the same sparsity
    round_epochs: int = 1          # epochs per IMP round
    transfer_epochs: int = 14      # detection: epochs of the transfer fine-tuning
    detection_lr: float = 0.02
    detection_backbone_lr_mult: float = 0.1   # the backbone's share of detection_lr
    seg_iters: int = 90            # segmentation (iteration-based stock schedule)
    segmentation_lr: float = 0.05
    batch_size: int = 8
    # classes of the scenes per task: 'digits' (0-9: recognising them is what digit pre-training helps
    # with), 'digit' (one class; at 10 classes no segmentor learns more than background in a CPU schedule)
    # or 'low digit' (digits 0-4 one class, 5-9 drawn as unlabelled distractors)
    detection_classes: str = 'digits'
    segmentation_classes: str = 'digit'
    seeds: int = 4                 # every fine-tuning is repeated with seeds seed, seed + 1, ...
    transfer_rounds: tuple[int, ...] = ()   # IMP rounds whose tickets are transferred; () = the last
    # the reverse ticket (the complement of the lowest transferred round's ticket) as a transfer cell too;
    # off by default: its 8 runs per task and pre-training do not fit the 15 minutes
    reverse_ticket: bool = False
    # > 0: instability analysis with this many points on the path (segmentation; the supervised ticket
    # at the highest transferred sparsity and the dense backbone; two seeds each): about a minute more
    instability_alphas: int = 0
    pretrainings: tuple[str, ...] = PRETRAININGS
    tasks: tuple[str, ...] = TASKS
    seed: int = 0

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def transferred_rounds(self) -> tuple[int, ...]:
        return tuple(self.transfer_rounds) or (self.imp_rounds,)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def evidence(cls) -> 'DemoSettings':
        """The paper's curves (docs/demo/evidence/PROTOCOL.md, fixed before any of its results): the
        default runs, but the ticket and the random mask of every IMP round transferred, over 6 seeds."""
        base = cls()
        return cls(seeds=6, transfer_rounds=tuple(range(1, base.imp_rounds + 1)), reverse_ticket=True)

    @classmethod
    def quick(cls) -> 'DemoSettings':
        """Every stage, every kind of run and two seeds, on the fewest images and epochs (the tests)."""
        return cls(per_class=6, train_scenes=8, val_scenes=4, pretrain_epochs=1, pretrain_batch=8, imp_rounds=1,
                   imp_rate=0.4, transfer_epochs=1, seg_iters=4, batch_size=4, seeds=2, instability_alphas=3,
                   reverse_ticket=True)
