"""The authors' recipes, point by point, read from their code (VITA-Group/CV_LTH_Pre-training, commit bb18ba2).

One entry per paper config (configs/paper/); tests/test_recipe_card.py
reads the same fields from each merged config and compares them one by one.
Batch sizes are totals over GPUs; 'augment' lists the training transforms
after decoding; 'weights' says what is loaded before the first state.
Where a field's reading needs the code's context, the comment names the line.
"""
import re

_IMP = dict(rate=0.2, strategy='global_magnitude', pruned='every conv but the stem conv1', momentum=0.9)


# -- the whole experiment, spelled as the merged config spells it (tests/test_recipe_card.py, _spell):
# every pipeline step with its arguments, the channel order the network sees, the losses and their
# reduction, the widths of necks and heads, gradient accumulation, the sampler and the evaluators.
_LOAD, _PACK = 'LoadImageFromFile()', 'PackInputs()'
_FLIP = "RandomFlip(direction='horizontal', prob=0.5)"
_CE = {'head.loss': 'CrossEntropyLoss(loss_weight=1.0)'}  # nn.CrossEntropyLoss(): the batch mean
_CLS_HEAD = {'head.in_channels': 2048}
_SHUFFLED = 'DefaultSampler(shuffle=True)'
_RUN = dict(accumulate=1, sampler=_SHUFFLED)
# main_imp_imagenet.py: criterion :115; train transforms :155-160, val :167-172 (torchvision on PIL: bilinear,
# mmcv's pillow backend); loader :163-165; validate() reports top-1 and top-5
_IMAGENET_FULL = dict(
    _RUN, train_pipeline=[_LOAD, "RandomResizedCrop(backend='pillow', scale=224)", _FLIP, _PACK],
    val_pipeline=[_LOAD, "ResizeEdge(backend='pillow', edge='short', scale=256)", 'CenterCrop(crop_size=224)', _PACK],
    test_pipeline=[_LOAD, "ResizeEdge(backend='pillow', edge='short', scale=256)", 'CenterCrop(crop_size=224)',
                   _PACK],
    channels='RGB', losses=_CE, widths=_CLS_HEAD, val_evaluator='Accuracy(topk=[1, 5])',
    test_evaluator='Accuracy(topk=[1, 5])')
# SimCLR/args.py:119-130 (two views of the same transform; ToTensor, no Normalize), utils.py:79-80 (the
# loss), utils.Projection_head (2048-2048-128); args.py:152-155 (no shuffle)
_SIMCLR_FULL = dict(
    _RUN, sampler='DefaultSampler(shuffle=False)', channels='RGB',
    train_pipeline=[_LOAD, "MultiView(num_views=2, transforms=[[\"RandomResizedCrop(backend='pillow', "
                    "crop_ratio_range=[0.08, 1.0], scale=224)\", 'RandomFlip(prob=0.5)', \"RandomApply(prob=0.8, "
                    "transforms=['ColorJitter(brightness=0.8, contrast=0.8, hue=0.2, saturation=0.8)'])\", "
                    "'RandomGrayscale(channel_weights=[0.114, 0.587, 0.2989], keep_channels=True, prob=0.2)']])",
                    _PACK],
    losses={'head.loss': 'NegLogMeanProbLoss()'},  # -log(mean_i p_i) over the batch (SimCLR/utils.py:79-80)
    widths={'neck.hid_channels': 2048, 'neck.in_channels': 2048, 'neck.out_channels': 128})
# MoCo/main_moco_imp.py:236-245 (aug_plus), :272-274 (DistributedSampler, shuffled), criterion
# nn.CrossEntropyLoss over the logits / T; --mlp: Linear(2048, 2048)-ReLU-Linear(2048, 128)
_MOCOV2_FULL = dict(
    _RUN, channels='RGB',
    train_pipeline=[_LOAD, "MultiView(num_views=2, transforms=[[\"RandomResizedCrop(backend='pillow', "
                    "crop_ratio_range=[0.2, 1.0], scale=224)\", \"RandomApply(prob=0.8, transforms=['ColorJitter("
                    "brightness=0.4, contrast=0.4, hue=0.1, saturation=0.4)'])\", 'RandomGrayscale(channel_weights="
                    "[0.114, 0.587, 0.2989], keep_channels=True, prob=0.2)', \"GaussianBlur(magnitude_range=[0.1, "
                    "2.0], magnitude_std='inf', prob=0.5)\", 'RandomFlip(prob=0.5)']])", _PACK],
    losses={'head.loss': 'CrossEntropyLoss()'},
    widths={'neck.hid_channels': 2048, 'neck.in_channels': 2048, 'neck.out_channels': 128})
# dataset.py: CIFAR :9-20 (crop + flip; test: ToTensor + Normalize), SVHN :61-70 (none; torchvision's SVHN
# is RGB), Fashion-MNIST :84-93 (none, one channel); main_imp_downstream.py:89 criterion; accuracy top-1
_SMALL_FULL = dict(_RUN, losses=_CE, widths=_CLS_HEAD, val_evaluator='Accuracy(topk=[1])',
                   test_evaluator='Accuracy(topk=[1])')
_SMALL_PIPELINES = {
    'cifar10': dict(train_pipeline=['RandomCrop(crop_size=32, padding=4)', _FLIP, _PACK], val_pipeline=[_PACK],
                    test_pipeline=[_PACK], channels='RGB'),
    'svhn': dict(train_pipeline=[_LOAD, _PACK], val_pipeline=[_LOAD, _PACK], test_pipeline=[_LOAD, _PACK],
                 channels='RGB'),
    'fmnist': dict(train_pipeline=[_PACK], val_pipeline=[_PACK], test_pipeline=[_PACK], channels='gray'),
    'smallnorb': dict(train_pipeline=["Resize(interpolation='bilinear', scale=[32, 32])", _PACK],
                      val_pipeline=["Resize(interpolation='bilinear', scale=[32, 32])", _PACK],
                      test_pipeline=["Resize(interpolation='bilinear', scale=[32, 32])", _PACK], channels='gray'),
}
# the stem conv1: models/resnet.py:143, 160 (3x3, Kaiming fan_out normal, also where the pre-trained file
# is loaded around it: pt_trans, random, transfer); Fashion-MNIST replaces it after init (utils.py:48), so it
# keeps nn.Conv2d's own init. SmallNORB (not in the seed): Fashion-MNIST's.
for _ds, _init in (('cifar10', 'Kaiming fan_out'), ('svhn', 'Kaiming fan_out'), ('fmnist', 'PyTorch default'),
                   ('smallnorb', 'PyTorch default')):
    _SMALL_PIPELINES[_ds]['stem_init'] = _init
_SMALL_PIPELINES['cifar100'] = _SMALL_PIPELINES['cifar10']
# main_imp_visda.py:181-194 (transforms), :173 criterion
_VISDA_FULL = dict(
    _SMALL_FULL, channels='RGB',
    train_pipeline=[_LOAD, "RandomResizedCrop(backend='pillow', crop_ratio_range=[0.75, 1.33], scale=224)", _FLIP,
                    _PACK],
    val_pipeline=[_LOAD, "Resize(backend='pillow', scale=[224, 224])", _PACK],
    test_pipeline=[_LOAD, "Resize(backend='pillow', scale=[224, 224])", _PACK])
# Segmentation/args.py:88-103 (train: scale, pad-if-needed with 0 on all sides, crop, flip; val with
# --crop_val: Resize(513) + CenterCrop(513)), main_transfer_*.py:92 (CrossEntropyLoss(ignore_index=255),
# mean over the pixels not ignored), network/_deeplab.py:29-43, 134-152 (ASPP 256, low-level 48, decoder
# 304->256), metrics/stream_metrics.py (mean IoU)
_SEG_VAL = [_LOAD, 'Resize(513) + CenterCrop(513) (args.py:98-103)', 'LoadAnnotations()', 'PackSegInputs()']
_SEGMENTATION_FULL = dict(
    _RUN, sampler='InfiniteSampler(shuffle=True)', channels='RGB',
    train_pipeline=[_LOAD, 'LoadAnnotations()', 'RandomRescale(ratio_range=[0.5, 2.0])',
                    'PadIfNeeded(pad_val=0, seg_pad_val=0, size=513)', 'RandomCrop(crop_size=[513, 513])',
                    'RandomFlip(prob=0.5)', 'PackSegInputs()'],
    val_pipeline=_SEG_VAL, test_pipeline=_SEG_VAL,
    losses={'decode_head.loss_decode': 'CrossEntropyLoss(avg_non_ignore=True, loss_weight=1.0, use_sigmoid=False)'},
    widths={'decode_head.c1_channels': 48, 'decode_head.c1_in_channels': 256, 'decode_head.channels': 256,
            'decode_head.in_channels': 2048},
    val_evaluator="IoUMetric(iou_metrics=['mIoU'])", test_evaluator="IoUMetric(iou_metrics=['mIoU'])")
# Detection/train_transfer.py:236-242 (--accumulate 2: a step every second batch), utils/datasets.py and
# utils/data_augment.py (flip, crop, affine p 0.5 each, letterbox 416, mixup p 0.5), eval/evaluator.py:208-236
# (VOC07 11-point AP at IoU 0.50, 0.55, ..., 0.95), the YOLOv4 heads and losses (model/)
_VOC_THRS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
_DET_EVAL = f"VOCMetric(eval_mode='11points', iou_thrs={_VOC_THRS}, metric='mAP')"
_DETECTION_FULL = dict(
    _RUN, accumulate='2 batches, gradients summed', channels='RGB',
    train_pipeline=[_LOAD, 'LoadAnnotations(with_bbox=True)', 'RandomFlip(prob=0.5)', 'BoxSafeCrop(prob=0.5)',
                    'BoxSafeTranslate(prob=0.5)', 'LetterBox(pad_val=128, size=416)',
                    'Mixup of two images, lam ~ Beta(1.5, 1.5), p 0.5, each box\'s loss weighted by its share '
                    '(utils/datasets.py:37-49)', 'PackDetInputs()'],
    val_pipeline='LetterBox 416, no flip or multi-scale (eval/evaluator.py)',
    test_pipeline='LetterBox 416, no flip or multi-scale (eval/evaluator.py)',
    losses='YOLOv4 losses (model/loss/yolo_loss.py)', widths='SPP + PANet neck, three YOLO heads (model/)',
    val_evaluator=_DET_EVAL, test_evaluator=_DET_EVAL)

# main_imp_imagenet.py: states 0..18; state 0 breaks out of its epoch loop after validating; pruning
# after every state, the 19th mask (after state 18) is never trained or saved; a new SGD every state.
IMAGENET = dict(
    _IMP, prune_first=True, trained_prunings=18, state_epochs=10, rewind='pt', rewind_at=0, rewind_keys=['*'],
    restart_optimizer=True, optimizer='SGD', lr=1e-4, weight_decay=1e-4, schedule='constant', warmup_epochs=0,
    total_batch=256, drop_last=False,  # main_imp_imagenet.py:163-165
    weights='whole model with its pre-trained fc (load_from)',
    augment=['RandomResizedCrop(224, 0.08-1)', 'RandomFlip(0.5)'], **_IMAGENET_FULL)

# SimCLR/main.py: prunning_and_rewind before the epoch loop and after every 10th epoch of 180;
# args.py: LARS(lr 1e-4, momentum 0.9 by default, wd 1e-6, eta 1e-3) built once; the DataLoader does
# not shuffle; utils.Projection_head: Linear-ReLU-Linear; pruning.py rewinds only keys of sim_ckpt
# (the backbone); train.py / utils.nt_xent: temperature 0.5.
SIMCLR = dict(
    _IMP, prune_first=True, trained_prunings=18, state_epochs=10, rewind='pt', rewind_at=0,
    # LARS on torch.nn.utils.prune's weight_orig: the trust ratio over the dense weight (optimizer/lars.py:78-86)
    rewind_keys=['backbone.*'], restart_optimizer=False, optimizer='DenseNormLARS', lr=1e-4, weight_decay=1e-6,
    eta=1e-3, lars_norm='dense weight',
    schedule='constant', warmup_epochs=0, total_batch=256, shuffle=False, temperature=0.5,
    drop_last=False,  # SimCLR/args.py:152-155
    head='Linear-ReLU-Linear (2048-2048-128), biases, no BatchNorm', normalise=False,
    weights='backbone (init_cfg)',
    augment=['RandomResizedCrop(224, 0.08-1)', 'RandomFlip(0.5)', 'ColorJitter(0.8, 0.8, 0.8, 0.2) p0.8',
             'RandomGrayscale p0.2'], **_SIMCLR_FULL)

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
             'GaussianBlur(0.1-2.0) p0.5', 'RandomFlip(0.5)'], **_MOCOV2_FULL)

# main_imp_downstream.py + utils.py + dataset.py: 19 trained states (state 0 dense), 182 epochs,
# MultiStepLR [91, 136], warmup_lr over the first epoch, SGD(0.1, 0.9, 2e-4) rebuilt every state, batch
# 256; the test accuracy reported is the one at the best validation epoch of each state.
_DOWNSTREAM = dict(
    _IMP, prune_first=False, trained_prunings=18, state_epochs=182, restart_optimizer=True, optimizer='SGD',
    lr=0.1, weight_decay=2e-4, schedule='multistep [91, 136] x0.1', warmup_epochs=1, total_batch=256,
    drop_last=True,  # dataset.py:26-27, 52-53, 76, 99
    test_at_best=True, zero_init_residual=False, stem='3x3 stride 1, no max-pool', depth=50,  # --arch resnet50
    **_SMALL_FULL)
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
    val_resize=(224, 224), **_VISDA_FULL)

# Segmentation/args.py (get_dataset, defaults), main_transfer_*.py (optimizer, set_bn_momentum),
# network/modeling.py (output stride 16: layer4 dilated, ASPP 6/12/18), sh/transfer_*.sh (--batch_size 4).
SEGMENTATION = dict(
    iterations=30000, total_batch=4, optimizer='SGD', lr=0.01, backbone_lr=0.001, momentum=0.9,
    drop_last=False,  # Segmentation/main_transfer_*.py:51-52 (iteration-based: an epoch is not a unit)
    weight_decay=1e-4, schedule='poly 0.9', output_stride=16, aspp_dilations=(6, 12, 18), auxiliary_head=False,
    backbone_bn_momentum=0.01, train_set='VOC2012 train', crop=513, val_interval=100,
    augment=['RandomRescale(0.5-2.0)', 'PadIfNeeded', 'RandomCrop(513)', 'RandomFlip(0.5)'], **_SEGMENTATION_FULL)

# Detection/config/yolov4_config.py TRAIN, train_transfer.py (CosineDecayLR with warm-up, whole backbone).
DETECTION = dict(
    epochs=120, total_batch=8, optimizer='SGD', lr=1e-4, lr_end=1e-6, momentum=0.9, weight_decay=5e-4,
    # the scheduler is stepped with t = N/8 * epoch + i (train_transfer.py:208-212), not the cosine it names
    drop_last=False,  # Detection/train_transfer.py:68-74
    schedule='cosine stepped at t = 0.125 N epoch + i', warmup_epochs=2, image_size=416, frozen_stages=-1,
    norm_eval=False,
    train_set='VOC2007 trainval + VOC2012 trainval', test_set='VOC2007 test', **_DETECTION_FULL)

# what only an IMP run has (a transfer of a ticket trains once)
_IMP_ONLY = ('rate', 'strategy', 'pruned', 'prune_first', 'trained_prunings', 'state_epochs', 'restart_optimizer',
             'zero_init_residual', 'val_resize')

_TASK_IMP = dict(rate=0.2, strategy='global_magnitude', pruned='every conv but the stem conv1', prune_first=False,
                 trained_prunings=18, rewind='pt', rewind_at=0, rewind_keys=['*'], restart_optimizer=True,
                 test_at_best=None)

# main_eval_downstream.py: the downstream recipe at batch 128, one run, masks from --mask_dir on the
# weights from --pretrained without conv1 and fc (load_ticket), --reverse_mask for 1 - mask; the test
# accuracy at the best validation epoch.
_EVAL = dict(optimizer='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4, schedule='multistep [91, 136] x0.1',
             warmup_epochs=1, total_batch=128, epochs=182, weights='backbone without conv1 (init_cfg)',
             drop_last=True,  # main_eval_downstream.py reads dataset.py's loaders
             **_SMALL_FULL,
             save_best='accuracy/top1')

CARD = {
    'imp_supervised_r50_8xb32_in1k.py': IMAGENET,
    'imp_simclr_r50_8xb32_in1k.py': SIMCLR,
    'imp_mocov2_r50_8xb32_in1k.py': MOCOV2,
    **{f'downstream/imp_r50_{ds}_{t}.py': dict(_DOWNSTREAM, **_DATA[ds], **_SMALL_PIPELINES[ds], **_TYPES[t])
       for ds in _DATA for t in _TYPES},
    # main_imp_downstream.py --arch resnet152 (utils.py:42-43), the paper's ResNet-50 vs ResNet-152 tickets
    'downstream/imp_r152_cifar100_pt_trans.py': dict(_DOWNSTREAM, **_DATA['cifar100'], **_SMALL_PIPELINES['cifar100'],
                                                     **_TYPES['pt_trans'], depth=152),
    'downstream/imp_r50_visda_lt.py': dict(_VISDA, rewind='lt', rewind_at=0, weights='random init'),
    'downstream/imp_r50_visda_pt_trans.py': dict(_VISDA, rewind='pt_trans', rewind_at=0,
                                                 weights='backbone with its stem (init_cfg)'),
    **{f'transfer/resnet50-{kind}ticket_{ds}.py': dict(_EVAL, **_DATA[ds], **_SMALL_PIPELINES[ds], mode=mode)
       for ds in _DATA for kind, mode in (('', 'ticket'), ('reverse-', 'reverse'))},
    # main_eval_visda.py: the VisDA recipe at batch 64 (:38), the whole backbone loaded (stem included)
    **{f'transfer/resnet50-{kind}ticket_visda.py': dict(
        {k: v for k, v in _VISDA.items() if k not in _IMP_ONLY}, mode=mode, total_batch=64, epochs=20,
        weights='backbone with its stem (init_cfg)', save_best='accuracy/top1')
       for kind, mode in (('', 'ticket'), ('reverse-', 'reverse'))},
    # a CIFAR-10 ticket with its rewind weights on other datasets (Mehta 2019), the seed's schedule
    'transfer/resnet50-cifar10-ticket_fmnist.py': dict(_EVAL, **_DATA['fmnist'], **_SMALL_PIPELINES['fmnist'],
                                                        mode='ticket', total_batch=256),
    'transfer/resnet50-cifar10-ticket_smallnorb.py': dict(_EVAL, **_SMALLNORB, **_SMALL_PIPELINES['smallnorb'],
                                                           mode='ticket',
                                                           total_batch=256),
    # the temperature sweep: the seed's recipe with only the temperature changed
    **{f'sweeps/imp_simclr_r50_8xb32_in1k_tau{t}.py': dict(SIMCLR, temperature=float(t))
       for t in ('0.1', '0.2', '1.0')},
    **{f'sweeps/imp_mocov2_r50_8xb32_in1k_tau{t}.py': dict(MOCOV2, temperature=float(t))
       for t in ('0.07', '0.1', '0.5')},
    'transfer/deeplabv3plus_r50-ticket-os16_1xb4-30k_voc12-513x513.py': SEGMENTATION,
    'transfer/faster-rcnn_r50-ticket_fpn_1xb8-120e_voc0712-416.py': DETECTION,
    # Detection/train_random.py: one-shot global random pruning, then the transfer recipe
    'transfer/faster-rcnn_r50-random_fpn_1xb8-120e_voc0712-416.py': DETECTION,
    # task-specific IMP (Segmentation/main_imp_*.py + sh/imp_*.sh: imp_num 0..18, each state a full run
    # ending with a 20 % backbone pruning, masks on a freshly built pre-trained model with state 0's head;
    # Detection/train_imp.py + TicketSH/imp_*.sh: the same with the detection schedule)
    'task/imp_deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py': dict(
        SEGMENTATION, **_TASK_IMP, state_iterations=30000),
    # Detection/train_imp.py:161-181: only the pruned kernels are rewound, the rest carries on
    'task/imp_faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py': dict(
        DETECTION, **dict(_TASK_IMP, rewind_keys=['backbone.layer*.conv*.weight',
                                                  'backbone.layer*.downsample.0.weight']), state_epochs=120),
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
