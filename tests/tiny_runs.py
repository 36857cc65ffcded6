"""Tiny real runs that the tests and benchmarks share: a coloured image folder, and stock
mmpretrain classifier / SimCLR / MoCo configs around a narrow ResNet-50 (same layer names)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from demo.formats import write_image_folder

# The tiny runs' backbone: a ResNet-50 at width 8 (mmpretrain.ResNet arguments).
NARROW_R50 = dict(depth=50, stem_channels=8, base_channels=8, out_indices=(3,))


def write_colour_folder(root: Path, classes=('a', 'b'), per_class: int = 4, size: int = 32, seed: int = 0) -> Path:
    """An mmpretrain CustomDataset folder: root/<class>/<n>.png, classes told apart by colour."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(len(classes)):
        for _ in range(per_class):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            img[..., c % 3] += 150
            images.append(img)
            labels.append(c)
    return write_image_folder(root, images, labels, classes)


def tiny_classifier_cfg(work_dir: Path, data_root: Path, max_epochs: int = 1, num_classes: int = 2) -> dict:
    """A real mmpretrain ImageClassifier with a narrow ResNet-50 (same layer names) and CustomDataset."""
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    loader = dict(batch_size=4, num_workers=0, dataset=dict(type='CustomDataset', data_root=str(data_root),
                  pipeline=pipeline), sampler=dict(type='DefaultSampler', shuffle=True))
    return dict(
        default_scope='mmpretrain',
        work_dir=str(work_dir),
        experiment_name=f'{work_dir.parent.name}_{work_dir.name}',
        model=dict(type='ImageClassifier',
                   data_preprocessor=dict(num_classes=num_classes, mean=[127.0] * 3, std=[60.0] * 3, to_rgb=True),
                   backbone=dict(type='ResNet', **NARROW_R50),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=256,
                             loss=dict(type='CrossEntropyLoss'))),
        train_dataloader=loader,
        val_dataloader={**loader, 'sampler': dict(type='DefaultSampler', shuffle=False)},
        val_evaluator=dict(type='Accuracy', topk=(1,)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)),
        param_scheduler=[dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0),
        log_level='WARNING',
    )


def tiny_selfsup_cfg(work_dir: Path, data_root: Path, algorithm: str, max_epochs: int = 1) -> dict:
    """mmpretrain's SimCLR or MoCo (v2 neck) on two augmented views, narrow ResNet-50."""
    view = [dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.0), backend='pillow'),
            dict(type='RandomFlip', prob=0.5)]
    pipeline = [dict(type='LoadImageFromFile'), dict(type='MultiView', num_views=2, transforms=[view]),
                dict(type='PackInputs')]
    loader = dict(batch_size=4, num_workers=0, drop_last=True, collate_fn=dict(type='default_collate'),
                  dataset=dict(type='CustomDataset', data_root=str(data_root), with_label=False,
                               pipeline=pipeline),
                  sampler=dict(type='DefaultSampler', shuffle=True))
    backbone = dict(type='ResNet', **NARROW_R50, norm_cfg=dict(type='BN'))
    if algorithm == 'SimCLR':
        model = dict(type='SimCLR', backbone=backbone,
                     neck=dict(type='NonLinearNeck', in_channels=256, hid_channels=32, out_channels=16,
                               num_layers=2, with_avg_pool=True),
                     head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1))
        optimizer = dict(type='LARS', lr=0.1, momentum=0.9, weight_decay=1e-6)
    else:
        model = dict(type='MoCo', queue_len=16, feat_dim=16, momentum=0.01, backbone=backbone,
                     neck=dict(type='MoCoV2Neck', in_channels=256, hid_channels=32, out_channels=16,
                               with_avg_pool=True),
                     head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
        optimizer = dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4)
    model['data_preprocessor'] = dict(type='SelfSupDataPreprocessor', mean=[127.0] * 3, std=[60.0] * 3,
                                      to_rgb=True)
    return dict(
        default_scope='mmpretrain', work_dir=str(work_dir), model=model,
        experiment_name=f'{work_dir.parent.name}_{work_dir.name}', train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=optimizer),
        param_scheduler=[dict(type='ConstantLR', factor=1.0, by_epoch=True)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0), log_level='WARNING')
