from .sparse_backbone import SparseBackbone, TicketMasker, ticket_for_mode

__all__ = ['SparseBackbone', 'TicketMasker', 'ticket_for_mode']
