from .neg_log_mean_prob_loss import NegLogMeanProbLoss
from .slim_backbone import SlimBackbone
from .sparse_backbone import SparseBackbone, stock_backbone_cfg, ticket_for_mode

__all__ = ['NegLogMeanProbLoss', 'SlimBackbone', 'SparseBackbone', 'stock_backbone_cfg', 'ticket_for_mode']
