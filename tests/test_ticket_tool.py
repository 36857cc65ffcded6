"""tools/ticket.py as a user runs it."""
import os
import subprocess
import sys

import pytest
import torch

from ltcv_mm.core import load_ticket, prune, save_ticket

import layouts
from helpers import ROOT, checkout_env, run_tool

TOOL = str(ROOT / 'tools/ticket.py')


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'moco_v2.pth.tar'
    torch.save(layouts.moco_official_ckpt(seed=5), path)
    return path


def test_prune_info_export_import_overlap(pretrained, tmp_path):
    a = tmp_path / 'moco_r2.safetensors'
    run_tool(TOOL, 'prune', str(pretrained), '--rounds', '2', '--source', 'moco', '-o', str(a))
    ticket = load_ticket(a)
    assert ticket.density == pytest.approx(0.64, abs=1e-6)
    assert ticket.meta['source'] == 'moco' and ticket.meta['arch'] == 'resnet50' and ticket.meta['round'] == 2

    info = run_tool(TOOL, 'info', str(a)).stdout
    assert 'sparsity  36.0000%' in info and 'layer4.2.conv3.weight' in info and 'resnet50' in info

    seed = tmp_path / 'mask.pth'
    run_tool(TOOL, 'export', str(a), '-o', str(seed), '--prefix', 'module.')
    flat = torch.load(seed, weights_only=True)
    assert len(flat) == 52 and all(k.startswith('module.') and k.endswith('.weight_mask') for k in flat)

    back = tmp_path / 'back.safetensors'
    run_tool(TOOL, 'import', str(seed), '-o', str(back), '--source', 'moco')
    assert load_ticket(back) == ticket

    rnd = tmp_path / 'random.safetensors'
    run_tool(TOOL, 'prune', str(pretrained), '--strategy', 'random_like', '--start', str(a), '--rate', '0',
             '-o', str(rnd))
    assert load_ticket(rnd).layer_density() == ticket.layer_density()

    out = run_tool(TOOL, 'overlap', str(a), str(back), str(rnd)).stdout.splitlines()
    assert out[0] == 'IoU of kept weights'  # a title, then the matrix
    assert out[2].split()[0] == 'moco_r2' and out[2].split()[1:3] == ['1.0000', '1.0000']
    iou = float(out[2].split()[3])
    assert iou == pytest.approx(ticket.overlap(load_ticket(rnd)), abs=1e-4) and iou < 0.6


def test_bad_input_errors(pretrained, tmp_path):
    out = tmp_path / 't.safetensors'
    proc = run_tool(TOOL, 'prune', str(pretrained), '--rate', '1.5', '-o', str(out), check=False)
    assert proc.returncode != 0 and 'rate must be in (0, 1), got 1.5' in proc.stderr and not out.exists()

    run_tool(TOOL, 'prune', str(pretrained), '--rounds', '1', '-o', str(out))
    proc = run_tool(TOOL, 'prune', str(pretrained), '--rounds', '3', '-o', str(out), check=False)
    assert proc.returncode != 0 and 'refusing to overwrite' in proc.stderr
    assert load_ticket(out).meta['round'] == 1
    run_tool(TOOL, 'prune', str(pretrained), '--rounds', '3', '-o', str(out), '--force')
    assert load_ticket(out).meta['round'] == 3

    broken = tmp_path / 'broken.safetensors'
    broken.write_bytes(out.read_bytes()[:1000])
    proc = run_tool(TOOL, 'info', str(broken), check=False)
    assert proc.returncode != 0 and 'broken.safetensors: truncated' in proc.stderr

    nonbinary = tmp_path / 'nb.pth'
    torch.save({'layer1.0.conv1.weight_mask': torch.full((2, 2, 1, 1), 0.3)}, nonbinary)
    proc = run_tool(TOOL, 'import', str(nonbinary), '-o', str(tmp_path / 'x.safetensors'), check=False)
    assert proc.returncode != 0 and 'not binary' in proc.stderr and 'layer1.0.conv1.weight_mask' in proc.stderr


def test_info_into_a_pipe_whose_reader_has_gone_stops_quietly(tmp_path):
    """``ticket.py info T | head -1``: the reader closes the pipe early; no 'Broken pipe' message, no traceback."""
    ticket = save_ticket(prune({'layer1.0.conv1.weight': torch.randn(8, 8, 3, 3)}, rounds=1),
                         tmp_path / 't.safetensors')
    read, write = os.pipe()
    os.close(read)  # gone before anything is written: every write fails, whatever the timing
    proc = subprocess.run([sys.executable, TOOL, 'info', str(ticket)], stdout=write, stderr=subprocess.PIPE,
                          text=True, env=checkout_env())
    os.close(write)
    assert proc.returncode == 1 and 'Broken pipe' not in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr


def test_refill_turns_a_ticket_into_whole_channels_ranked_by_its_checkpoint(pretrained, tmp_path):
    from ltcv_mm.core import to_canonical
    from ltcv_mm.core.channel_refill import refill_channels
    a, out = tmp_path / 'a.safetensors', tmp_path / 'refilled.safetensors'
    run_tool(TOOL, 'prune', str(pretrained), '--rounds', '2', '--rate', '0.5', '-o', str(a))
    said = run_tool(TOOL, 'refill', str(a), '--weights', str(pretrained), '-o', str(out)).stdout
    assert 'from 75.0000% unstructured' in said
    ticket, refilled = load_ticket(a), load_ticket(out)
    state, _ = to_canonical(torch.load(pretrained, weights_only=True))
    assert refilled == refill_channels(ticket, {k: state[k] for k in ticket.masks})  # the core's, on those weights
    assert refilled.meta['refill'] == 'channels' and refilled.meta['round'] == 2
    other = tmp_path / 'other.pth'
    ckpt = torch.load(pretrained, weights_only=True)  # the same checkpoint, one ticket layer short
    del ckpt['state_dict'][next(k for k in ckpt['state_dict'] if k.endswith('layer4.2.conv3.weight'))]
    torch.save(ckpt, other)
    proc = run_tool(TOOL, 'refill', str(a), '--weights', str(other), '-o', str(tmp_path / 'x.safetensors'),
                    check=False)
    assert proc.returncode != 0 and 'no weight for the ticket layer' in proc.stderr
