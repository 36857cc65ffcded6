#!/usr/bin/env bash
# Creates (or reuses) the project's environment in .venv/ with the stack of
# shared/STACK.md. Idempotent: a stamp records the completed set-up, so a
# second run with nothing changed returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY=${PYTHON:-python3.11}
STAMP=$VENV/.ltcv_stack_ok
# Everything that decides the environment; a change to any of it re-runs set-up.
SPEC="torch===2.13.0 torchvision===0.28.0 mmcv==2.1.0 mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0 mmsegmentation==1.2.2 $(cat requirements/runtime.txt requirements/tests.txt requirements/demo.txt | tr '\n' ' ') setup.py:$(sha1sum setup.py | cut -c1-12) setup_env:$(sha1sum tools/setup_env.sh | cut -c1-12)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$SPEC" ] && "$VENV/bin/python" -c "import ltcv_mm" 2>/dev/null; then
  exit 0
fi

echo "[setup] building the environment in $VENV (first time: about 10-12 minutes, mostly compiling mmcv's ops)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip_install() {
  # This machine's pip configuration names an optional local index that may be
  # absent; pip warns once per package about it. Keep the log readable.
  "$VENV/bin/python" -m pip --disable-pip-version-check install "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
# setuptools<82: mmcv's setup.py and mmengine's cross-package config bases
# both import pkg_resources, which setuptools 82 removed.
pip_install -q "setuptools>=77,<82" wheel ninja psutil
# The exact-string pins ('===') select the registry builds: the local
# '2.13.0+cpu' wheel would otherwise win and no torchvision imports beside it.
pip_install -q "torch===2.13.0" "torchvision===0.28.0"
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  echo "[setup] compiling mmcv 2.1.0 with its ops (pip caches the wheel: later set-ups take seconds)"
  export MMCV_WITH_OPS=1 MAX_JOBS=2
  pip_install -q --no-build-isolation mmcv==2.1.0
fi
pip_install -q mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0 mmsegmentation==1.2.2 \
  -r requirements/runtime.txt -r requirements/tests.txt -r requirements/demo.txt "torch===2.13.0" "torchvision===0.28.0"
pip_install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" - <<'PY'
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmpretrain, mmdet, mmseg, ltcv_mm
assert torch.__version__.split('+')[0] == '2.13.0', torch.__version__
assert torchvision.__version__.split('+')[0] == '0.28.0', torchvision.__version__
print('[setup] ok: torch', torch.__version__, 'torchvision', torchvision.__version__,
      'mmcv', mmcv.__version__, 'mmengine', mmengine.__version__,
      'mmpretrain', mmpretrain.__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__)
PY
echo "$SPEC" > "$STAMP"
