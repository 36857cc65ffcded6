_base_ = ['./_base_/cifar100.py', '../_base_/rewind/lt.py']
