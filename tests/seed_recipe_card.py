"""The authors' recipes, point by point, read from their code (VITA-Group/CV_LTH_Pre-training, commit bb18ba2).

One entry per paper config (configs/paper/); tests/test_recipe_card.py
reads the same fields from each merged config and compares them one by one.
Batch sizes are totals over GPUs; 'augment' lists the training transforms
after decoding; 'weights' says what is loaded before the first state.
Where a field's reading needs the code's context, the comment names the line.
"""
import re

_IMP = dict(rate=0.2, strategy='global_magnitude', pruned='every conv but the stem conv1', momentum=0.9)

# main_imp_imagenet.py: states 0..18; state 0 breaks out of its epoch loop after validating; pruning
# after every state, the 19th mask (after state 18) is never trained or saved; a new SGD every state.
IMAGENET = dict(
    _IMP, prune_first=True, trained_prunings=18, state_epochs=10, rewind='pt', rewind_at=0, rewind_keys=['*'],
    restart_optimizer=True, optimizer='SGD', lr=1e-4, weight_decay=1e-4, schedule='constant', warmup_epochs=0,
    total_batch=256, drop_last=False,  # main_imp_imagenet.py:163-165
    weights='whole model with its pre-trained fc (load_from)',
    augment=['RandomResizedCrop(224, 0.08-1)', 'RandomFlip(0.5)'])

# SimCLR/main.py: prunning_and_rewind before the epoch loop and after every 10th epoch of 180;
# args.py: LARS(lr 1e-4, momentum 0.9 by default, wd 1e-6, eta 1e-3) built once; the DataLoader does
# not shuffle; utils.Projection_head: Linear-ReLU-Linear; pruning.py rewinds only keys of sim_ckpt
# (the backbone); train.py / utils.nt_xent: temperature 0.5.
SIMCLR = dict(
    _IMP, prune_first=True, trained_prunings=18, state_epochs=10, rewind='pt', rewind_at=0,
    rewind_keys=['backbone.*'], restart_optimizer=False, optimizer='LARS', lr=1e-4, weight_decay=1e-6, eta=1e-3,
    schedule='constant', warmup_epochs=0, total_batch=256, shuffle=False, temperature=0.5,
    drop_last=False,  # SimCLR/args.py:152-155
    head='Linear-ReLU-Linear (2048-2048-128), biases, no BatchNorm', normalise=False,
    weights='backbone (init_cfg)',
    augment=['RandomResizedCrop(224, 0.08-1)', 'RandomFlip(0.5)', 'ColorJitter(0.8, 0.8, 0.8, 0.2) p0.8',
             'RandomGrayscale p0.2'])

# MoCo/main_moco_imp.py: loading_weight copies encoder_q (with its fc MLP) into both encoders;
# pruning_rewind before the loop and after every 10th epoch of 180; adjust_learning_rate(fix_lr=3e-4);
# the queue buffers and the optimizer are never rebuilt; README: --moco-t 0.2 --mlp --aug-plus.
MOCOV2 = dict(
    _IMP, prune_first=True, trained_prunings=18, state_epochs=10, rewind='pt', rewind_at=0,
    rewind_keys=['backbone.*', 'neck.*', 'encoder_k.module.*'], restart_optimizer=False, optimizer='SGD',
    lr=3e-4, weight_decay=1e-4, schedule='constant', warmup_epochs=0, total_batch=256, temperature=0.2,
    drop_last=True,  # MoCo/main_moco_imp.py:272-274
    queue=65536, key_momentum=0.999, weights='query encoder with its MLP head in both encoders (load_from)',
    augment=['RandomResizedCrop(224, 0.2-1)', 'ColorJitter(0.4, 0.4, 0.4, 0.1) p0.8', 'RandomGrayscale p0.2',
             'GaussianBlur(0.1-2.0) p0.5', 'RandomFlip(0.5)'])

# main_imp_downstream.py + utils.py + dataset.py: 19 trained states (state 0 dense), 182 epochs,
# MultiStepLR [91, 136], warmup_lr over the first epoch, SGD(0.1, 0.9, 2e-4) rebuilt every state, batch
# 256; the test accuracy reported is the one at the best validation epoch of each state.
_DOWNSTREAM = dict(
    _IMP, prune_first=False, trained_prunings=18, state_epochs=182, restart_optimizer=True, optimizer='SGD',
    lr=0.1, weight_decay=2e-4, schedule='multistep [91, 136] x0.1', warmup_epochs=1, total_batch=256,
    drop_last=True,  # dataset.py:26-27, 52-53, 76, 99
    test_at_best=True, zero_init_residual=False, stem='3x3 stride 1, no max-pool')
_TYPES = {
    'lt': dict(rewind='lt', rewind_at=0, weights='random init'),
    'pt': dict(rewind='pt', rewind_at='round_best', weights='random init'),
    'rewind_lt': dict(rewind='rewind_lt', rewind_at=9, weights='random init'),
    'pt_trans': dict(rewind='pt_trans', rewind_at=0, weights='backbone without conv1 (init_cfg)'),
    'random': dict(rewind='pt_trans', rewind_at=0, weights='backbone without conv1 (init_cfg)',
                   strategy='random_global'),
}
_DATA = {
    'cifar10': dict(train=(0, 45000), val=(45000, 50000), test='test split',
                    augment=['RandomCrop(32, pad 4)', 'RandomFlip(0.5)'],
                    mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255]),
    'cifar100': dict(train=(0, 45000), val=(45000, 50000), test='test split',
                     augment=['RandomCrop(32, pad 4)', 'RandomFlip(0.5)'],
                     mean=[129.3105, 124.083, 112.4295], std=[51.2295, 50.592, 51.5865]),
    'svhn': dict(train=(0, 68257), val=(68257, 73257), test='test split', augment=[],
                 mean=[111.6135, 113.169, 120.564], std=[30.6255, 31.3905, 26.826]),
    'fmnist': dict(train=(0, 55000), val=(55000, 60000), test='test split', augment=[], mean=[36.618],
                   std=[41.0295]),
}
# Not in the seed code: SmallNORB, the target of Mehta (2019)'s cross-dataset tickets, on the seed's schedule.
_SMALLNORB = dict(train=(0, 20000), val=(20000, 24300), test='test split', augment=['Resize(32, 32)'],
                  mean=[127.5], std=[64.0])

# main_imp_visda.py: types lt and pt_trans only; 20 epochs a state, adjust_learning_rate: 1e-3, x0.1 from
# epoch 10; SGD wd 5e-4 rebuilt every state; pt_trans loads every key but fc (stem included).
_VISDA = dict(
    _IMP, prune_first=False, trained_prunings=18, state_epochs=20, restart_optimizer=True, optimizer='SGD',
    lr=1e-3, weight_decay=5e-4, schedule='multistep [10] x0.1', warmup_epochs=0, total_batch=128,
    drop_last=False,  # main_imp_visda.py:202-204
    zero_init_residual=False, augment=['RandomResizedCrop(224, 0.75-1.33)', 'RandomFlip(0.5)'],
    val_resize=(224, 224))

# Segmentation/args.py (get_dataset, defaults), main_transfer_*.py (optimizer, set_bn_momentum),
# network/modeling.py (output stride 16: layer4 dilated, ASPP 6/12/18), sh/transfer_*.sh (--batch_size 4).
SEGMENTATION = dict(
    iterations=30000, total_batch=4, optimizer='SGD', lr=0.01, backbone_lr=0.001, momentum=0.9,
    drop_last=False,  # Segmentation/main_transfer_*.py:51-52 (iteration-based: an epoch is not a unit)
    weight_decay=1e-4, schedule='poly 0.9', output_stride=16, aspp_dilations=(6, 12, 18), auxiliary_head=False,
    backbone_bn_momentum=0.01, train_set='VOC2012 train', crop=513, val_interval=100,
    augment=['RandomRescale(0.5-2.0)', 'RandomCrop(513)', 'RandomFlip(0.5)'])

# Detection/config/yolov4_config.py TRAIN, train_transfer.py (CosineDecayLR with warm-up, whole backbone).
DETECTION = dict(
    epochs=50, total_batch=8, optimizer='SGD', lr=1e-4, lr_end=1e-6, momentum=0.9, weight_decay=5e-4,
    drop_last=False,  # Detection/train_transfer.py:68-74
    schedule='cosine', warmup_epochs=2, image_size=416, frozen_stages=-1, norm_eval=False,
    train_set='VOC2007 trainval + VOC2012 trainval', test_set='VOC2007 test')

_TASK_IMP = dict(rate=0.2, strategy='global_magnitude', pruned='every conv but the stem conv1', prune_first=False,
                 trained_prunings=18, rewind='pt', rewind_at=0, rewind_keys=['*'], restart_optimizer=True,
                 test_at_best=None)

# main_eval_downstream.py: the downstream recipe at batch 128, one run, masks from --mask_dir on the
# weights from --pretrained without conv1 and fc (load_ticket), --reverse_mask for 1 - mask; the test
# accuracy at the best validation epoch.
_EVAL = dict(optimizer='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4, schedule='multistep [91, 136] x0.1',
             warmup_epochs=1, total_batch=128, epochs=182, weights='backbone without conv1 (init_cfg)',
             drop_last=True,  # main_eval_downstream.py reads dataset.py's loaders
             save_best='accuracy/top1')

CARD = {
    'imp_supervised_r50_8xb32_in1k.py': IMAGENET,
    'imp_simclr_r50_8xb32_in1k.py': SIMCLR,
    'imp_mocov2_r50_8xb32_in1k.py': MOCOV2,
    **{f'downstream/imp_r50_{ds}_{t}.py': dict(_DOWNSTREAM, **_DATA[ds], **_TYPES[t])
       for ds in _DATA for t in _TYPES},
    'downstream/imp_r50_visda_lt.py': dict(_VISDA, rewind='lt', rewind_at=0, weights='random init'),
    'downstream/imp_r50_visda_pt_trans.py': dict(_VISDA, rewind='pt_trans', rewind_at=0,
                                                 weights='backbone with its stem (init_cfg)'),
    **{f'transfer/resnet50-{kind}ticket_{ds}.py': dict(_EVAL, **_DATA[ds], mode=mode)
       for ds in _DATA for kind, mode in (('', 'ticket'), ('reverse-', 'reverse'))},
    # a CIFAR-10 ticket with its rewind weights on other datasets (Mehta 2019), the seed's schedule
    'transfer/resnet50-cifar10-ticket_fmnist.py': dict(_EVAL, **_DATA['fmnist'], mode='ticket', total_batch=256),
    'transfer/resnet50-cifar10-ticket_smallnorb.py': dict(_EVAL, **_SMALLNORB, mode='ticket', total_batch=256),
    # the temperature sweep: the seed's recipe with only the temperature changed
    **{f'sweeps/imp_simclr_r50_8xb32_in1k_tau{t}.py': dict(SIMCLR, temperature=float(t))
       for t in ('0.1', '0.2', '1.0')},
    **{f'sweeps/imp_mocov2_r50_8xb32_in1k_tau{t}.py': dict(MOCOV2, temperature=float(t))
       for t in ('0.07', '0.1', '0.5')},
    'transfer/deeplabv3plus_r50-ticket-os16_1xb4-30k_voc12-513x513.py': SEGMENTATION,
    'transfer/faster-rcnn_r50-ticket_fpn_1xb8-50e_voc0712-416.py': DETECTION,
    # task-specific IMP (Segmentation/main_imp_*.py + sh/imp_*.sh: imp_num 0..18, each state a full run
    # ending with a 20 % backbone pruning, masks on a freshly built pre-trained model with state 0's head;
    # Detection/train_imp.py + TicketSH/imp_*.sh: the same with the detection schedule)
    'task/imp_deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py': dict(
        SEGMENTATION, **_TASK_IMP, state_iterations=30000),
    'task/imp_faster-rcnn_r50_fpn_1xb8-50e_voc0712-416.py': dict(DETECTION, **_TASK_IMP, state_epochs=50),
}

# The training images of one epoch, for the samples a launch sees (tests/test_launch.py): the card's
# train ranges; ImageNet-1k train; VisDA-2017 train (synthetic); VOC2007 + VOC2012 trainval.
_IMAGES = {'in1k': 1281167, 'visda': 152397, 'voc0712': 5011 + 11540,
           **{ds: d['train'][1] - d['train'][0] for ds, d in _DATA.items()},
           'smallnorb': _SMALLNORB['train'][1] - _SMALLNORB['train'][0]}


def _trained_on(rel: str) -> int:
    """The training images of the dataset a config trains on (the target one for a cross-dataset ticket)."""
    tokens = re.split(r'[_.-]', rel.split('/')[-1])
    return next(_IMAGES[k] for k in ('smallnorb', 'fmnist', 'svhn', 'cifar100', 'cifar10', 'visda', 'in1k', 'voc0712')
                if k in tokens)


TRAIN_IMAGES = {rel: _trained_on(rel) for rel in CARD if 'iterations' not in CARD[rel]
                and 'state_iterations' not in CARD[rel]}
