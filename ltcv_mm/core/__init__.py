"""Lottery-ticket core in plain PyTorch: no OpenMMLab import below this line."""
from .atomic import atomic_torch_save, atomic_write_bytes, torch_load_safe
from .convert import FORMATS, MODELS, UnknownLayoutError, detect_format, to_canonical, to_model_weights
from .masking import (
                      TicketBindingError,
                      TicketMasks,
                      apply_ticket,
                      attach_ticket,
                      attached_masks,
                      check_not_flattened,
                      check_ticket_fits,
                      detach_ticket,
                      mask_state_dict,
                      ticket_holders,
)
from .names import canonical_name, infer_arch, pattern_list, select_model_prunable, select_prunable, split_canonical
from .seed_format import SeedFormatError, ticket_from_seed, ticket_to_seed
from .strategies import STRATEGIES, get_strategy, prune, random_like, register_strategy
from .ticket import Ticket
from .ticket_file import TicketFileError, load_ticket, save_ticket, ticket_from_bytes, ticket_to_bytes

__all__ = [
    'TicketBindingError', 'TicketMasks', 'apply_ticket', 'attach_ticket', 'attached_masks',
    'check_not_flattened', 'check_ticket_fits', 'detach_ticket', 'mask_state_dict', 'ticket_holders',
    'atomic_torch_save',
    'atomic_write_bytes', 'torch_load_safe', 'FORMATS', 'UnknownLayoutError', 'detect_format', 'to_canonical',
    'MODELS', 'to_model_weights', 'canonical_name', 'infer_arch', 'pattern_list', 'select_model_prunable',
    'select_prunable',
    'split_canonical', 'SeedFormatError',
    'ticket_from_seed', 'ticket_to_seed', 'STRATEGIES', 'get_strategy', 'prune', 'random_like',
    'register_strategy', 'Ticket', 'TicketFileError', 'load_ticket', 'save_ticket',
    'ticket_from_bytes', 'ticket_to_bytes',
]
