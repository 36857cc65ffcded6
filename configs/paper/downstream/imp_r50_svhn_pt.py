_base_ = ['./_base_/svhn.py', '../_base_/rewind/pt.py']
