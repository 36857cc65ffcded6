#!/usr/bin/env bash
# The GPU check, on the accelerator machine, from the repository root, in about 8 minutes:
#   bash tools/gpu_check.sh            (with .whl/ from tools/gpu_check_wheels.sh carried along)
# 1. masks, one IMP round under AMP, the masks' step overhead and dense vs slim latency, with the
#    pure-Python OpenMMLab packages and mmcv-lite;
# 2. mmcv 2.1.0 compiled with its ops for this GPU's architecture alone (MMCV_BUILD_LIMIT seconds at
#    most, default 240), then SparseBackbone Faster R-CNN and DeepLabV3+ under AMP; if the build
#    does not finish in time, those two checks are reported as SKIP with the reason.
# One line per check (PASS / FAIL / SKIP); exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=/tmp/ltcv_site
OPS=/tmp/ltcv_mmcv_ops
export PYTHONUNBUFFERED=1
status=0
if [ -d .whl ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || { echo "FAIL setup: the wheels in .whl/ did not install"; exit 1; }
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" tools/gpu_check.py --parts masking,imp,overhead,structured || status=1

arch=$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())" 2>/dev/null || echo none)
src=$(ls .whl/mmcv-2.1.0.tar.gz 2>/dev/null || true)
if "$PY" -c "import mmcv.ops" 2>/dev/null && "$PY" -c "import mmcv; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  echo "INFO mmcv-ops: mmcv 2.1.0 with its ops is already importable"
elif [ -z "$src" ] || [ "$arch" = none ]; then
  echo "SKIP detection-amp, segmentation-amp: no mmcv source in .whl/ or no GPU (arch $arch)"
  exit $status
else
  start=$(date +%s)
  # setuptools<82 from .whl (mmcv's setup.py imports pkg_resources); only this GPU's architecture
  if TORCH_CUDA_ARCH_LIST="$arch" FORCE_CUDA=1 MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
     timeout "${MMCV_BUILD_LIMIT:-240}" "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
       --no-cache-dir --target "$OPS" "$src" > /tmp/ltcv_mmcv_build.log 2>&1; then
    echo "INFO mmcv-ops: compiled for sm_${arch/./} with $(nproc) jobs in $(( $(date +%s) - start )) s"
    export PYTHONPATH="$OPS:$PYTHONPATH"
  else
    echo "SKIP detection-amp, segmentation-amp: compiling mmcv's ops for sm_${arch/./} did not finish within" \
         "${MMCV_BUILD_LIMIT:-240} s ($(( $(date +%s) - start )) s; log tail: $(tail -c 300 /tmp/ltcv_mmcv_build.log | tr '\n' ' '))"
    exit $status
  fi
fi
"$PY" tools/gpu_check.py --parts detection,segmentation || status=1
exit $status
