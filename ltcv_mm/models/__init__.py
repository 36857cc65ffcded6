from .sparse_backbone import SparseBackbone, TicketMasker, stock_backbone_cfg, ticket_for_mode

__all__ = ['SparseBackbone', 'TicketMasker', 'stock_backbone_cfg', 'ticket_for_mode']
