from pathlib import Path

from setuptools import find_packages, setup


def requirements(name):
    lines = Path('requirements', name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


setup(
    name='ltcv_mm',
    version='0.1.0',
    description='Lottery tickets in pre-trained ResNet-50 backbones for OpenMMLab 2.x',
    long_description=Path('README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.11',
    packages=find_packages(include=['ltcv_mm', 'ltcv_mm.*']),
    # The OpenMMLab stack and torch are pinned by tools/setup_env.sh (see
    # README): torch and mmcv need install steps pip's resolver cannot express.
    install_requires=requirements('runtime.txt') + [
        'torch>=2.1', 'torchvision', 'mmengine>=0.10.7', 'mmcv>=2.1.0,<2.2.0',
        'mmpretrain>=1.2.0', 'mmdet>=3.3.0', 'mmsegmentation>=1.2.2'],
    extras_require={'tests': requirements('tests.txt')},
)
