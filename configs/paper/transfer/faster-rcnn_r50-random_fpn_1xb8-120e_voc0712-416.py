# The detection random baseline as the seed code runs it (Detection/train_random.py): the pre-trained
# backbone pruned ONCE, globally at random, over every conv but the stem, to the sparsity 1 - 0.8^k of
# the k-th IMP state; then the detection transfer recipe (120 epochs). Not a random mask with a ticket's
# per-layer densities (SparseBackbone mode='random', the demo's baseline). Make the mask with, for k = 5
# (67.23 % sparse):
#   tools/ticket.py prune work_dirs/pretrained/resnet50_supervised.pth --strategy random_global \
#       --rate 0.67232 -o work_dirs/random/random_global_k05.safetensors
_base_ = './faster-rcnn_r50-ticket_fpn_1xb8-120e_voc0712-416.py'
ticket = 'work_dirs/random/random_global_k05.safetensors'
model = dict(backbone=dict(ticket=ticket, mode='ticket'))
