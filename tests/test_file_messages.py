"""Files that are not what they should be are named for what they are, and never read whole to find out."""
import os

import pytest
import torch
import torchvision

from ltcv_mm.core import atomic_write_bytes, load_ticket, prune, save_ticket, select_prunable, torch_load_safe
from ltcv_mm.core.packed_checkpoint import PackedCheckpointError, read_packed
from ltcv_mm.core.ticket_file import TicketFileError

from helpers import ROOT, run_tool

TOOL = str(ROOT / 'tools/ticket.py')


@pytest.fixture
def odd_paths(tmp_path):
    (tmp_path / 'loop').symlink_to(tmp_path / 'loop')
    (tmp_path / 'dangling').symlink_to(tmp_path / 'gone')
    return {'folder': (tmp_path, 'a folder'), 'device': ('/dev/null', 'not a regular file'),
            'loop': (tmp_path / 'loop', 'a symbolic link loop'),
            'dangling': (tmp_path / 'dangling', f'a broken symbolic link (to {tmp_path / "gone"})'),
            'missing': (tmp_path / 'missing', 'not found')}


@pytest.mark.parametrize('kind', ['folder', 'device', 'loop', 'dangling', 'missing'])
def test_a_path_that_is_no_file_is_named_for_what_it_is(odd_paths, kind):
    """Was 'not found' for each: a folder, /dev/null and a symlink loop are there, just not files."""
    path, words = odd_paths[kind]
    for read, what in ((load_ticket, 'ticket file'), (torch_load_safe, 'checkpoint'), (read_packed, 'packed '
                                                                                        'checkpoint')):
        with pytest.raises(OSError, match=f'^{what} {path}: ' + words.replace('(', r'\(').replace(')', r'\)')):
            read(path)
    proc = run_tool(TOOL, 'info', str(path), check=False)
    assert proc.returncode == 1 and f'{path}: {words}' in proc.stderr and 'Traceback' not in proc.stderr


def test_a_huge_file_that_is_no_safetensors_file_is_refused_from_its_first_bytes(tmp_path):
    """A 64 GiB checkpoint given as a ticket used to be read whole (into memory) before the check."""
    huge = tmp_path / 'huge.pth'
    with open(huge, 'wb') as f:
        f.write(b'PK\x03\x04' + b'\0' * 60)  # a zip (torch.save) start: a header length of 64 MB...
        f.truncate(64 * 2 ** 30)  # ...in a sparse 64 GiB file: no disk used, and no memory if read right
    with pytest.raises(TicketFileError, match='huge.pth: corrupt safetensors header'):  # 64 MB read, not 64 GiB
        load_ticket(huge)
    with open(huge, 'r+b') as f:
        f.write((2 ** 40).to_bytes(8, 'little'))  # a header longer than any file here
    with pytest.raises(PackedCheckpointError, match='truncated or not a safetensors file .header says '
                                                     '1099511627776 bytes'):
        read_packed(huge)
    proc = run_tool(TOOL, 'unpack', str(huge), '-o', str(tmp_path / 'out.pth'), check=False)
    assert proc.returncode == 1 and 'header says 1099511627776 bytes' in proc.stderr, proc.stderr


def test_a_symlink_loop_is_not_replaced_by_the_file_written_to_it(tmp_path):
    loop = tmp_path / 'loop'
    loop.symlink_to(loop)
    with pytest.raises(OSError, match='cannot write .*loop: it is a symbolic link loop'):
        atomic_write_bytes(loop, b'x')
    assert loop.is_symlink() and os.readlink(loop) == str(loop)
    link = tmp_path / 'link'
    link.symlink_to(tmp_path / 'target')
    atomic_write_bytes(link, b'y')  # a link to a file yet to be written is followed, as before
    assert link.is_symlink() and (tmp_path / 'target').read_bytes() == b'y'


@pytest.mark.parametrize('length', [240, 255])
def test_the_longest_file_names_can_be_written(tmp_path, length):
    """The temporary's name is the target's plus 20 bytes: names of 233 to 255 bytes used to fail."""
    ticket = prune(select_prunable(dict(torchvision.models.resnet18().named_parameters())), rounds=1)
    name = tmp_path / ('t' * (length - len('.safetensors')) + '.safetensors')
    save_ticket(ticket, name)
    assert load_ticket(name).kept == ticket.kept
    torch.save({'w': torch.ones(1)}, tmp_path / 'c.pth')
    wide = tmp_path / ('é' * ((length - 4) // 2) + '.pth')  # two bytes a character: cut at a character
    atomic_write_bytes(wide, (tmp_path / 'c.pth').read_bytes())
    assert torch.equal(torch_load_safe(wide)['w'], torch.ones(1)) and not list(tmp_path.glob('.*.tmp'))
