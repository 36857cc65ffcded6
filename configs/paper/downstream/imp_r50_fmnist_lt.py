_base_ = ['./_base_/fmnist.py', '../_base_/rewind/lt.py']
