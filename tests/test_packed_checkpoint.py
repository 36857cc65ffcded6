"""Packed checkpoints (tools/ticket.py pack / unpack): a real detector checkpoint round trip, bit for bit;
tampered and mismatched files refused with the place at fault."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import ltcv_mm  # noqa: F401
from demo.tiny import narrow_model
from ltcv_mm.core import load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.core.packed_checkpoint import PackedCheckpointError, from_bytes, pack_state_dict, unpack_state_dict

from helpers import ROOT, run_tool

TOOL = str(ROOT / 'tools/ticket.py')


def _detector(ticket=None):
    cfg = Config.fromfile(str(ROOT / 'configs/transfer/detection/faster-rcnn_r50-supervised-ticket_fpn_1x_coco.py'))
    narrow_model(cfg.model, width=8, feat=32)
    if ticket is None:  # the dense stock detector, to load the unpacked checkpoint into
        cfg.model.backbone = {k: v for k, v in cfg.model.backbone.items() if k not in ('ticket', 'mode', 'wraps')}
        cfg.model.backbone.update(type='mmdet.ResNet', init_cfg=None)
    else:
        cfg.model.backbone.update(ticket=str(ticket), init_cfg=None)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        init_default_scope('mmdet')
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def detector_checkpoint(tmp_path_factory):
    """A Faster R-CNN checkpoint in mmengine's layout, its backbone under a 90 % ticket."""
    root = tmp_path_factory.mktemp('packed')
    torch.manual_seed(0)
    dense = _detector()
    ticket = prune(select_prunable(dict(dense.backbone.named_parameters())), rounds=1, rate=0.9)
    path = save_ticket(ticket, root / 't.safetensors')
    model = _detector(path)
    state = model.state_dict()  # the ticket's state-dict hook zeroes pruned weights: -0.0 where they were < 0
    assert any(bool(((v == 0) & torch.signbit(v)).any()) for v in state.values() if v.is_floating_point())
    ckpt = {'meta': {'epoch': 12, 'iter': 100, 'cfg': 'model = dict(...)'}, 'state_dict': state,
            'optimizer': {'state': {}, 'param_groups': []}}
    torch.save(ckpt, root / 'ckpt.pth')
    return root, path, ckpt


def _bits(t: torch.Tensor) -> bytes:
    return t.contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''


def test_round_trip_is_bit_identical_and_loads_strictly(detector_checkpoint, tmp_path):
    root, ticket, ckpt = detector_checkpoint
    out = run_tool(TOOL, 'pack', str(root / 'ckpt.pth'), '--ticket', str(ticket), '-o', str(tmp_path / 'p.safetensors'))
    assert 'not kept: optimizer' in out.stdout
    run_tool(TOOL, 'unpack', str(tmp_path / 'p.safetensors'), '-o', str(tmp_path / 'back.pth'))
    back = torch.load(tmp_path / 'back.pth', weights_only=False)
    assert back['meta'] == ckpt['meta']
    assert list(back['state_dict']) == list(ckpt['state_dict'])  # same keys, same order
    for k, v in ckpt['state_dict'].items():
        w = back['state_dict'][k]
        assert w.dtype == v.dtype and w.shape == v.shape and _bits(w) == _bits(v), k  # -0.0 included
    # the stock detector (no plugin backbone) loads it with no missing or unexpected key
    _detector().load_state_dict(back['state_dict'], strict=True)
    # the backbone's pruned layers take a fraction of their dense bytes: 10 % values + 1 bit a weight
    tensors, _ = from_bytes((tmp_path / 'p.safetensors').read_bytes())
    t = load_ticket(ticket)
    dense = sum(v.numel() * v.element_size() for k, v in ckpt['state_dict'].items()
                if k.startswith('backbone.') and k[len('backbone.'):] in t.masks)
    packed = sum(v.numel() * v.element_size() for k, v in tensors.items()
                 if k.startswith('backbone.') and k.split('::')[0][len('backbone.'):] in t.masks)
    assert packed / dense == pytest.approx(0.1 + 1.6 / 32, abs=0.002)  # values, 3 states a weight in 1.6 bits


def test_tampered_or_foreign_files_are_refused(detector_checkpoint, tmp_path):
    root, ticket, ckpt = detector_checkpoint
    run_tool(TOOL, 'pack', str(root / 'ckpt.pth'), '--ticket', str(ticket), '-o', str(tmp_path / 'p.safetensors'))
    data = bytearray((tmp_path / 'p.safetensors').read_bytes())
    data[-5] ^= 0x10  # a bit of the last tensor's bytes
    (tmp_path / 'bad.safetensors').write_bytes(bytes(data))
    proc = run_tool(TOOL, 'unpack', str(tmp_path / 'bad.safetensors'), '-o', str(tmp_path / 'x.pth'), check=False)
    assert proc.returncode != 0 and 'does not match its SHA-256: the file is corrupt or was altered' in proc.stderr
    assert 'bad.safetensors: tensor ' in proc.stderr and not (tmp_path / 'x.pth').exists()
    data = bytearray((tmp_path / 'p.safetensors').read_bytes())
    data[12] ^= 0xFF  # inside the JSON header
    (tmp_path / 'bad2.safetensors').write_bytes(bytes(data))
    proc = run_tool(TOOL, 'unpack', str(tmp_path / 'bad2.safetensors'), '-o', str(tmp_path / 'x.pth'), check=False)
    assert proc.returncode != 0 and 'bad2.safetensors: corrupt safetensors header' in proc.stderr
    save_ticket(load_ticket(ticket), tmp_path / 'a_ticket.safetensors')  # safetensors, but a ticket
    proc = run_tool(TOOL, 'unpack', str(tmp_path / 'a_ticket.safetensors'), '-o', str(tmp_path / 'x.pth'), check=False)
    assert proc.returncode != 0 and "not a packed checkpoint (no readable 'ltcv_packed' metadata" in proc.stderr


def test_a_checkpoint_not_trained_under_the_ticket_is_refused(detector_checkpoint):
    root, ticket, ckpt = detector_checkpoint
    state = dict(ckpt['state_dict'])
    state['backbone.layer2.0.conv2.weight'] = torch.ones_like(state['backbone.layer2.0.conv2.weight'])
    with pytest.raises(PackedCheckpointError, match=r"'backbone.layer2.0.conv2.weight': \d+ weights the ticket "
                                                     r"prunes are not zero"):
        pack_state_dict(state, load_ticket(ticket))
    tensors, meta = pack_state_dict(ckpt['state_dict'], load_ticket(ticket))
    name = next(k for k in tensors if k.startswith('backbone.layer1.0.conv1.weight::'))
    del tensors[name]
    with pytest.raises(PackedCheckpointError, match=rf"missing \['{name}'\]"):
        unpack_state_dict(tensors, meta)


def test_trits_round_trip_on_known_values():
    import numpy as np

    from ltcv_mm.core.packed_checkpoint import pack_trits, unpack_trits
    states = np.array([0, 1, 2, 2, 1, 0, 2], dtype=np.uint8)
    packed = pack_trits(states)
    assert packed.tolist() == [0 * 81 + 1 * 27 + 2 * 9 + 2 * 3 + 1, 0 * 81 + 2 * 27]  # base 3, zero padded
    assert unpack_trits(packed, 7).tolist() == states.tolist()
    with pytest.raises(ValueError, match='holds no five base-3 digits'):
        unpack_trits(np.array([250], dtype=np.uint8), 5)


def _small_packed():
    from ltcv_mm.core import Ticket
    torch.manual_seed(0)
    weight = torch.randn(4, 2, 1, 1)
    mask = weight.abs() > 0.5
    state = {'layer1.0.conv1.weight': weight * mask, 'layer1.0.bn1.weight': torch.randn(4),
             'fc.bias': torch.arange(3, dtype=torch.float64)}
    tensors, metadata = pack_state_dict(state, Ticket({'layer1.0.conv1.weight': mask}),
                                        meta={'epoch': 3, 'source': 'simclr'})
    return state, tensors, metadata


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and
                                        torch.equal(a[k].view(-1).view(torch.uint8), b[k].view(-1).view(torch.uint8))
                                        for k in a)


def test_every_single_bit_flip_of_a_packed_checkpoint_is_refused_or_harmless():
    """The header too: a flipped shape, dtype, epoch or source used to load with exit 0."""
    from ltcv_mm.core.packed_checkpoint import to_bytes
    state, tensors, metadata = _small_packed()
    data = bytearray(to_bytes(tensors, metadata))
    _, info = unpack_state_dict(*from_bytes(bytes(data)))
    refused = harmless = 0
    for bit in range(len(data) * 8):
        data[bit // 8] ^= 1 << (bit % 8)
        try:
            got, got_info = unpack_state_dict(*from_bytes(bytes(data)))
        except PackedCheckpointError:
            refused += 1
        else:
            assert _same(got, state) and got_info == info, f'bit {bit} changed what loads'
            harmless += 1
        data[bit // 8] ^= 1 << (bit % 8)
    assert refused > 0.9 * len(data) * 8, (refused, harmless)


def test_a_version_1_packed_checkpoint_still_loads():
    import hashlib
    import json

    from ltcv_mm.core.packed_checkpoint import HEADER_SHA_KEY, META_KEY, _digest
    state, tensors, metadata = _small_packed()
    info = json.loads(metadata[META_KEY])
    info.update(version=1, sha256={k: _digest(t, 1) for k, t in tensors.items()})
    got, _ = unpack_state_dict(tensors, {META_KEY: json.dumps(info)})
    assert _same(got, state)
    text = json.dumps(dict(info, version=2))
    with pytest.raises(PackedCheckpointError, match='does not match its SHA-256'):  # v2 without its header hash
        unpack_state_dict(tensors, {META_KEY: text})
    with pytest.raises(PackedCheckpointError, match='does not match its SHA-256'):  # a v1 digest in a v2 file
        unpack_state_dict(tensors, {META_KEY: text, HEADER_SHA_KEY: hashlib.sha256(text.encode()).hexdigest()})


def test_pack_refuses_its_own_input_a_foreign_ticket_and_a_list_and_counts_every_packed_layer(
        detector_checkpoint, tmp_path):
    root, ticket, ckpt = detector_checkpoint
    packed = len(load_ticket(ticket).masks)  # every backbone layer, stored with -0.0 (trits) or without (mask)
    out = run_tool(TOOL, 'pack', str(root / 'ckpt.pth'), '--ticket', str(ticket), '-o', str(tmp_path / 'p.st'))
    assert f'{len(ckpt["state_dict"])} tensors, {packed} packed' in out.stdout
    copy = tmp_path / 'ckpt.pth'
    copy.write_bytes((root / 'ckpt.pth').read_bytes())
    proc = run_tool(TOOL, 'pack', str(copy), '--ticket', str(ticket), '-o', str(copy), '--force', check=False)
    assert proc.returncode == 1 and 'is also the input' in proc.stderr
    assert copy.read_bytes() == (root / 'ckpt.pth').read_bytes()  # the input (with its optimizer state) intact
    proc = run_tool(TOOL, 'unpack', str(tmp_path / 'p.st'), '-o', str(tmp_path / 'p.st'), '--force', check=False)
    assert proc.returncode == 1 and 'is also the input' in proc.stderr
    other = {f'head.{k}': v for k, v in ckpt['state_dict'].items() if not k.startswith('backbone.')}
    torch.save(other, tmp_path / 'heads.pth')
    proc = run_tool(TOOL, 'pack', str(tmp_path / 'heads.pth'), '--ticket', str(ticket), '-o', str(tmp_path / 'h.st'),
                    check=False)
    assert proc.returncode == 1 and 'the ticket matches none of the' in proc.stderr and 'heads.pth' in proc.stderr
    assert not (tmp_path / 'h.st').exists()
    torch.save([1, 2], tmp_path / 'list.pth')
    proc = run_tool(TOOL, 'pack', str(tmp_path / 'list.pth'), '--ticket', str(ticket), '-o', str(tmp_path / 'l.st'),
                    check=False)
    assert proc.returncode == 1 and 'not a checkpoint' in proc.stderr and 'list' in proc.stderr, proc.stderr
