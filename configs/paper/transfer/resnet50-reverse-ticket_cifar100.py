# The reverse of a ticket (main_eval_downstream.py --reverse_mask): every weight the ticket
# prunes is kept and every weight it keeps is pruned; otherwise ./resnet50-ticket_cifar100.py.
_base_ = './resnet50-ticket_cifar100.py'
model = dict(backbone=dict(mode='reverse'))
