import json
import struct

import pytest
import torch

from ltcv_mm.core import Ticket, TicketFileError, load_ticket, prune, save_ticket, select_prunable


@pytest.fixture(scope='module')
def r50_ticket(resnet50_state):
    t = prune(select_prunable(resnet50_state), rounds=3)
    t.meta.update(source='supervised', metric=71.5)
    return t


def test_round_trip_keeps_masks_and_meta(r50_ticket, tmp_path):
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    back = load_ticket(path)
    assert back == r50_ticket
    assert back.meta['arch'] == 'resnet50'
    assert back.meta['source'] == 'supervised' and back.meta['round'] == 3
    assert back.meta['metric'] == 71.5 and back.meta['strategy'] == 'global_magnitude'
    assert back.layer_sparsity() == r50_ticket.layer_sparsity()


def test_file_is_about_one_bit_per_weight(r50_ticket, tmp_path):
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    bits_per_weight = path.stat().st_size * 8 / r50_ticket.numel
    assert bits_per_weight <= 1.1, bits_per_weight


def test_metadata_holds_per_layer_sparsity(r50_ticket, tmp_path):
    from safetensors import safe_open
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    with safe_open(str(path), 'pt') as f:
        meta = json.loads(f.metadata()['ltcv_ticket'])
    assert meta['format'] == 'ltcv_mm.ticket' and meta['version'] == 2
    assert meta['sparsity'] == pytest.approx(r50_ticket.sparsity)
    assert meta['layers']['layer4.2.conv3.weight']['shape'] == [2048, 512, 1, 1]
    assert meta['layers']['layer1.0.conv1.weight']['sparsity'] == pytest.approx(
        r50_ticket.layer_sparsity()['layer1.0.conv1.weight'])


def test_truncated_file_is_rejected_with_its_name(r50_ticket, tmp_path):
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    data = path.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / f'cut{cut}.safetensors'
        bad.write_bytes(data[:cut])
        with pytest.raises(TicketFileError, match=f'cut{cut}.safetensors'):
            load_ticket(bad)


def test_bit_flip_in_masks_is_detected(r50_ticket, tmp_path):
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack('<Q', data[:8])
    for pos in (8 + n + 10, len(data) - 5, 8 + n + (len(data) - 8 - n) // 2):
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        bad = tmp_path / 'flip.safetensors'
        bad.write_bytes(bytes(flipped))
        with pytest.raises(TicketFileError, match='corrupt'):
            load_ticket(bad)


def test_swapped_bits_with_the_same_kept_count_are_caught_by_the_checksum(r50_ticket, tmp_path):
    """One kept bit moved to a pruned place: the counts agree, only the CRC can tell."""
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack('<Q', data[:8])
    pos = next(i for i in range(8 + n + 100, len(data)) if data[i] not in (0x00, 0xFF))
    ones = [b for b in range(8) if data[pos] >> b & 1]
    zeros = [b for b in range(8) if not data[pos] >> b & 1]
    data[pos] ^= (1 << ones[0]) | (1 << zeros[0])
    bad = tmp_path / 'swap.safetensors'
    bad.write_bytes(bytes(data))
    with pytest.raises(TicketFileError, match='checksum mismatch'):
        load_ticket(bad)


def test_bit_flip_in_header_is_detected(r50_ticket, tmp_path):
    path = save_ticket(r50_ticket, tmp_path / 't.safetensors')
    data = path.read_bytes()
    i = data.index(b'kept')
    flipped = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]   # "kept" -> "jept"
    bad = tmp_path / 'flip.safetensors'
    bad.write_bytes(flipped)
    with pytest.raises(TicketFileError):
        load_ticket(bad)


def _rewritten(src, dst, version: int, crc: bool = True):
    """``src`` with its metadata's version changed, written consistently (masks, counts, checksums)."""
    import zlib

    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(src), 'pt') as f:
        meta = json.loads(f.metadata()['ltcv_ticket'])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta['version'] = version
    text = json.dumps(meta)
    extra = {'ltcv_ticket': text, **({'ltcv_ticket_crc32': str(zlib.crc32(text.encode()))} if crc else {})}
    save_file(tensors, str(dst), metadata=extra)
    return dst


def test_unknown_version_and_foreign_safetensors(tmp_path):
    from safetensors.torch import save_file
    t = Ticket({'layer1.0.conv1.weight': torch.ones(2, 2, 1, 1, dtype=torch.bool)})
    path = save_ticket(t, tmp_path / 't.safetensors')
    with pytest.raises(TicketFileError, match='version 9 is not supported'):
        load_ticket(_rewritten(path, tmp_path / 'v9.safetensors', version=9))
    # a version-1 file (no metadata checksum) written by an earlier ltcv_mm still loads
    assert load_ticket(_rewritten(path, tmp_path / 'v1.safetensors', version=1, crc=False)) == t
    save_file({'w': torch.zeros(3)}, str(tmp_path / 'weights.safetensors'))
    with pytest.raises(TicketFileError, match='not a ticket'):
        load_ticket(tmp_path / 'weights.safetensors')
    with pytest.raises(FileNotFoundError, match='missing.safetensors'):
        load_ticket(tmp_path / 'missing.safetensors')


def test_no_silent_overwrite_and_atomic_write(tmp_path, monkeypatch):
    a = Ticket({'layer1.0.conv1.weight': torch.tensor([1, 0, 1, 1], dtype=torch.bool).view(1, 4, 1, 1)})
    b = a.reverse()
    path = tmp_path / 'a.safetensors'
    save_ticket(a, path)
    save_ticket(a, path)  # the same ticket again is fine
    with pytest.raises(FileExistsError, match='refusing to overwrite'):
        save_ticket(b, path)
    assert load_ticket(path) == a
    # a write that dies half-way leaves the old file and no temporary behind
    import ltcv_mm.core.atomic as atomic

    def dying_fsync(fd):
        raise OSError('disk full')
    monkeypatch.setattr(atomic.os, 'fsync', dying_fsync)
    with pytest.raises(OSError, match='disk full'):
        save_ticket(b, path, overwrite=True)
    monkeypatch.undo()
    assert load_ticket(path) == a
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.safetensors']
    save_ticket(b, path, overwrite=True)
    assert load_ticket(path) == b


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Files written through a temporary file are readable as a plain open() would make them."""
    import os

    from ltcv_mm.core import atomic_write_bytes
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / 'x.bin', b'data')
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_every_single_bit_flip_is_refused_or_harmless(tmp_path):
    """Flip each bit of a small ticket file: a named TicketFileError, or the very same ticket (masks and
    metadata), never a raw exception and never a changed ticket."""
    t = prune({'layer1.0.conv1.weight': torch.randn(4, 4, 1, 1), 'layer1.0.conv2.weight': torch.randn(4, 4, 3, 3)},
              rounds=2)
    t.meta.update(source='supervised', metric=71.5)
    path = save_ticket(t, tmp_path / 't.safetensors')
    data = path.read_bytes()
    from ltcv_mm.core import ticket_from_bytes
    original = ticket_from_bytes(data)
    silent = []
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            try:
                back = ticket_from_bytes(bytes(flipped), 'flip')
            except TicketFileError:
                continue
            if back != original or back.meta != original.meta:
                silent.append((i, bit))
    assert not silent, f'{len(silent)} flips load as a different ticket, e.g. byte {silent[0]}'


def _race(path, index, barrier, results):
    t = Ticket({'layer1.0.conv1.weight': torch.tensor([i == index for i in range(4)]).view(1, 4, 1, 1)})
    barrier.wait()
    try:
        save_ticket(t, path)
        results.put((index, 'wrote'))
    except FileExistsError as e:
        results.put((index, str(e)))


def test_concurrent_writers_without_overwrite_exactly_one_wins(tmp_path):
    """Four processes save four different tickets to one name at the same moment: one writes, three
    are told the file exists, and the file holds the winner's ticket (check-then-rename let all four
    'write' and the last one survive)."""
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    for attempt in range(5):
        path = tmp_path / f'race{attempt}.safetensors'
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(path, i, barrier, results)) for i in range(4)]
        for p in procs:
            p.start()
        outcome = dict(results.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=120)
        winners = [i for i, r in outcome.items() if r == 'wrote']
        assert len(winners) == 1, outcome
        assert all('refusing to overwrite' in r for i, r in outcome.items() if i != winners[0])
        assert load_ticket(path).masks['layer1.0.conv1.weight'].flatten().tolist() == \
            [i == winners[0] for i in range(4)]
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f'.race{attempt}')) == []


_WRITE_TWICE = '''
import sys, torch
from ltcv_mm.core import Ticket, ticket_to_bytes
from ltcv_mm.core.packed_checkpoint import to_bytes
g = torch.Generator().manual_seed(0)
t = Ticket({'layer1.0.conv1.weight': torch.rand(8, 4, 1, 1, generator=g) > 0.5}, {'source': 'supervised'})
sys.stdout.buffer.write(ticket_to_bytes(t).hex().encode() + b' ')
sys.stdout.buffer.write(to_bytes({'w': torch.ones(3)}, {'b': '2', 'a': '1', 'c': '3'}).hex().encode())
'''


def test_one_ticket_gives_the_same_bytes_in_every_process():
    """safetensors writes its metadata from a hash map seeded per process: without sorting, the same ticket
    (or packed checkpoint) written by two processes differed in its bytes, half the time."""
    import subprocess
    import sys

    from helpers import checkout_env
    outs = {subprocess.run([sys.executable, '-c', _WRITE_TWICE], capture_output=True, check=True, text=True,
                           env=checkout_env()).stdout for _ in range(5)}
    assert len(outs) == 1
    for blob in next(iter(outs)).split():
        data = bytes.fromhex(blob)
        n = struct.unpack('<Q', data[:8])[0]
        meta = list(json.loads(data[8:8 + n])['__metadata__'])
        assert meta == sorted(meta) and n % 8 == 0
    ticket_hex, packed_hex = next(iter(outs)).split()
    from ltcv_mm.core import ticket_from_bytes
    from ltcv_mm.core.packed_checkpoint import from_bytes
    assert ticket_from_bytes(bytes.fromhex(ticket_hex)).meta['source'] == 'supervised'  # still a valid file
    tensors, metadata = from_bytes(bytes.fromhex(packed_hex))
    assert torch.equal(tensors['w'], torch.ones(3)) and metadata == {'a': '1', 'b': '2', 'c': '3'}
