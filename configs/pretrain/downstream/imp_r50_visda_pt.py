_base_ = ['./_base_/visda.py', '../../_base_/rewind/pt.py']
