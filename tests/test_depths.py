"""Other ResNet depths (the paper's ResNet-152 study): torchvision ResNet-18 and -152 weights go through
the converter, make tickets, and bind to the stock ResNet backbones of mmpretrain, mmdet and mmseg."""
import pytest
import torch
import torchvision

import ltcv_mm  # noqa: F401
from ltcv_mm.core import TicketBindingError, infer_arch, prune, select_prunable, to_canonical
from ltcv_mm.models.sparse_backbone import SparseBackbone

PACKAGES = ('mmpretrain.ResNet', 'mmdet.ResNet', 'mmseg.ResNet')


@pytest.fixture(scope='module', params=[18, 152])
def depth_and_ticket(request, tmp_path_factory):
    depth = request.param
    torch.manual_seed(depth)
    canonical, fmt = to_canonical(getattr(torchvision.models, f'resnet{depth}')().state_dict())
    assert fmt == 'torchvision'
    weights = select_prunable(canonical)
    ticket = prune(weights, rounds=2)
    assert ticket.meta['arch'] == infer_arch(ticket.shapes) == f'resnet{depth}'
    path = tmp_path_factory.mktemp(f'r{depth}') / 'ckpt.pth'
    torch.save({'state_dict': canonical}, path)
    ticket_path = path.with_name('ticket.safetensors')
    from ltcv_mm.core import save_ticket
    save_ticket(ticket, ticket_path)
    return depth, canonical, ticket, path, ticket_path


@pytest.mark.parametrize('wraps', PACKAGES)
def test_ticket_of_another_depth_binds_to_each_stock_backbone(depth_and_ticket, wraps):
    depth, canonical, ticket, ckpt, ticket_path = depth_and_ticket
    backbone = SparseBackbone(ticket=str(ticket_path), wraps=wraps, depth=depth,
                              init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    backbone.init_weights()
    sd = backbone.state_dict()
    for name, mask in ticket.masks.items():  # the pre-trained weights under the ticket, nothing else
        assert torch.equal(sd[name], canonical[name] * mask), name
    assert torch.equal(sd['conv1.weight'], canonical['conv1.weight'])  # the stem stays dense
    out = backbone(torch.randn(1, 3, 64, 64))
    assert out[-1].shape[1] == (512 if depth == 18 else 2048)


def test_a_ticket_of_one_depth_refuses_another(depth_and_ticket):
    depth, _, _, _, ticket_path = depth_and_ticket
    other = 34 if depth == 18 else 101
    with pytest.raises(TicketBindingError, match=rf'(the ticket is for |another architecture \()resnet{depth}'):
        SparseBackbone(ticket=str(ticket_path), wraps='mmdet.ResNet', depth=other).init_weights()
