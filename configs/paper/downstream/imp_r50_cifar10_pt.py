_base_ = ['./_base_/cifar10.py', '../_base_/rewind/pt.py']
