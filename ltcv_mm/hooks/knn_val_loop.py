"""KNNValLoop: validate a model that predicts no class (a self-supervised pre-training) by k-NN on its
backbone's features, scored by the stock evaluator.

mmpretrain's self-supervised models (SimCLR, MoCo, ...) have no ``predict``
mode, so a stock ValLoop cannot run on them, and their training loss says
little about their features. This loop embeds a labelled ``bank_dataloader``
(the training images without augmentation) and the validation images with
the model's ``backbone`` in eval mode, gives every validation image the
k-NN vote of its neighbours in the bank as its ``pred_score``, and hands the
samples to the configured ``val_evaluator`` (mmpretrain's ``Accuracy``), so
IMPHook can record and compare rounds by it like any validation metric::

    val_dataloader = dict(...)          # labelled images, test pipeline
    val_evaluator = dict(type='Accuracy', topk=(1,), prefix='knn')
    val_cfg = dict(type='ltcv.KNNValLoop', bank_dataloader=dict(...), k=5)

Under DDP each rank embeds its share of both sets; the bank is gathered on
every rank (each image once), and the evaluator collects the scores as usual.
"""
from __future__ import annotations

import torch
from mmengine.dist import all_gather_object
from mmengine.runner import ValLoop

from ..analysis.knn import knn_scores, pooled_features
from ..registry import LOOPS
from .runner_access import unwrap


@LOOPS.register_module()
class KNNValLoop(ValLoop):
    """A ValLoop whose predictions are the k-NN votes of the backbone's features (see the module)."""

    def __init__(self, runner, dataloader, evaluator, bank_dataloader, k: int = 5, fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f'KNNValLoop: k must be a whole number >= 1, got {k!r}')
        self.k = k
        self.bank_dataloader = (runner.build_dataloader(bank_dataloader, seed=runner.seed)
                                if isinstance(bank_dataloader, dict) else bank_dataloader)

    def _embed(self, model, data_batch) -> tuple[torch.Tensor, list]:
        data = model.data_preprocessor(data_batch, False)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):  # a multi-view pipeline: judge the first view
            inputs = inputs[0]
        with torch.no_grad(), torch.autocast(inputs.device.type, enabled=self.fp16):
            return pooled_features(model.backbone(inputs)), data['data_samples']

    def _bank(self, model) -> tuple[torch.Tensor, torch.Tensor]:
        """Every bank image once: each rank embeds its share, the shares are gathered on every rank, and
        the images a distributed sampler repeats to even the shares out are kept once (by sample_idx)."""
        rows = []
        for data_batch in self.bank_dataloader:
            f, samples = self._embed(model, data_batch)
            rows += [(s.metainfo.get('sample_idx'), row, _label(s)) for s, row in zip(samples, f.cpu())]
        seen, feats, labels = set(), [], []
        for share in all_gather_object(rows):
            for idx, row, label in share:
                if idx is None or idx not in seen:
                    seen.add(idx)
                    feats.append(row)
                    labels.append(label)
        if not feats:
            raise ValueError('KNNValLoop: the bank_dataloader gave no image')
        return torch.stack(feats), torch.cat(labels)

    def run(self) -> dict:
        """Embed the bank, then score every validation batch by its k nearest bank images."""
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        model = unwrap(self.runner.model)
        was_training = model.training
        model.eval()
        try:
            bank, bank_labels = self._bank(model)
            num_classes = len(self.dataloader.dataset.metainfo.get('classes') or ()) or int(bank_labels.max()) + 1
            for idx, data_batch in enumerate(self.dataloader):
                self.runner.call_hook('before_val_iter', batch_idx=idx, data_batch=data_batch)
                feats, samples = self._embed(model, data_batch)
                scores = knn_scores(feats, bank.to(feats.device), bank_labels, num_classes, self.k)
                for sample, score in zip(samples, scores):
                    sample.set_pred_score(score)
                self.evaluator.process(data_samples=samples, data_batch=data_batch)
                self.runner.call_hook('after_val_iter', batch_idx=idx, data_batch=data_batch, outputs=samples)
        finally:
            model.train(was_training)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics


def _label(sample) -> torch.Tensor:
    label = getattr(sample, 'gt_label', None)
    if label is None:
        raise ValueError('KNNValLoop: a bank image has no gt_label; the bank_dataloader needs a labelled '
                         'data set (e.g. CustomDataset over class folders)')
    return label.reshape(-1)[:1].cpu().long()
