from .sparse_backbone import SparseBackbone, stock_backbone_cfg, ticket_for_mode

__all__ = ['SparseBackbone', 'stock_backbone_cfg', 'ticket_for_mode']
