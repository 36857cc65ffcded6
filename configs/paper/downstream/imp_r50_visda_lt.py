# VisDA-2017 'lt' (main_imp_visda.py --prune_type lt): torchvision's random initialisation, rewound to
# after every pruning; 19 trained states of 20 epochs. The seed reports the validation accuracy itself.
_base_ = ['./_base_/visda.py']
custom_hooks = [dict(type='ltcv.IMPHook', rate=0.2, rounds=18, rewind='lt')]
