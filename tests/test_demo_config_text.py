"""The demo's configs reach the Runner without yapf formatting (2.2 s of every demo run), text still valid."""
import copy

import pytest
from mmengine.config import Config

from demo import runs


def _no_formatting(*args, **kwargs):
    raise AssertionError('yapf formatted a demo config')


@pytest.mark.parametrize('rel', [runs.TRANSFER_CONFIG['detection'].format('supervised'),
                                 runs.TRANSFER_CONFIG['segmentation'].format('simclr'),
                                 'pretrain/imp_mocov2_r50_in1k.py'])
def test_shipped_configs_keep_their_text_unformatted_through_the_runners_copy(rel, monkeypatch, tmp_path):
    cfg = runs.load_config(str(runs.shipped(rel)))
    monkeypatch.setattr('mmengine.config.config.FormatCode', _no_formatting)
    runner_copy = copy.deepcopy(cfg)  # what Runner.__init__ keeps, dumps and saves in every checkpoint
    text = runner_copy.pretty_text
    (tmp_path / 'dumped.py').write_text(text)
    assert Config.fromfile(str(tmp_path / 'dumped.py')).model == cfg.model


def test_a_stock_config_loaded_for_pre_training_is_not_formatted_either(monkeypatch):
    cfg = runs.load_config(runs.stock(runs.STOCK_PRETRAIN['simclr']))
    monkeypatch.setattr('mmengine.config.config.FormatCode', _no_formatting)
    assert 'SimCLR' in copy.deepcopy(cfg).pretty_text
