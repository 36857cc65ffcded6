#!/usr/bin/env bash
# Fetches, here, the Python packages that tools/gpu_check.sh needs on the accelerator machine, which
# has no network but its own Python 3.12 with a CUDA build of torch (and numpy, OpenCV, matplotlib,
# safetensors, scikit-learn, rich, PyYAML). Writes .whl/ (ignored by git; carry it to that machine):
# pure-Python OpenMMLab wheels, mmcv-lite for the masking / IMP / overhead checks, and mmcv's source,
# which gpu_check.sh compiles there for that GPU's architecture alone (for the detector and segmentor).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/python -m pip}
rm -rf .whl && mkdir -p .whl
py312=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
$PIP download -q --no-deps -d .whl "${py312[@]}" \
  mmengine==0.10.7 mmpretrain==1.2.0 mmcv-lite==2.1.0 mmdet==3.3.0 mmsegmentation==1.2.2 \
  addict yapf platformdirs termcolor mat4py modelindex ordered-set importlib-metadata \
  pycocotools shapely terminaltables prettytable wcwidth ftfy "setuptools>=77,<82" \
  2>&1 | { grep -v "is ignored: it is neither" || true; }  # this machine's pip names an absent local index
$PIP download -q --no-deps -d .whl --no-binary :all: mmcv==2.1.0 2>&1 | { grep -v "is ignored: it is neither" || true; }
du -sh .whl
