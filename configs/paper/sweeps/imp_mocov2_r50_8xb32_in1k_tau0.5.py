# The seed's MoCo v2 IMP (../imp_mocov2_r50_8xb32_in1k.py, temperature 0.2) at InfoNCE temperature 0.5.
_base_ = '../imp_mocov2_r50_8xb32_in1k.py'
model = dict(head=dict(temperature=0.5))
