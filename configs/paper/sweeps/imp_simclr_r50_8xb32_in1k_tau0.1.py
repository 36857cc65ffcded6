# The seed's SimCLR IMP (../imp_simclr_r50_8xb32_in1k.py, temperature 0.5) at NT-Xent temperature 0.1.
_base_ = '../imp_simclr_r50_8xb32_in1k.py'
model = dict(head=dict(temperature=0.1))
