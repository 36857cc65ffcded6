# The reverse of a ticket (main_eval_visda.py --reverse_mask): every weight the ticket prunes is kept
# and every weight it keeps is pruned; otherwise ./resnet50-ticket_visda.py.
_base_ = './resnet50-ticket_visda.py'
model = dict(backbone=dict(mode='reverse'))
