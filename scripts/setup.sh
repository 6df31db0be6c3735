#!/usr/bin/env bash
# One-command set-up for a machine without ROS: .venv with the ROS 2 wheels, torch and the
# Python dependencies, then the automask package (messages, nodes, launch files) built into
# install/. Idempotent: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

stamp() { cat "$@" | sha256sum | cut -c1-16; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

want=$(stamp requirements.txt requirements-ros.txt setup.py)
if [ "$(cat .venv/.automask-deps 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python and ROS 2 wheels (first run: a few minutes; log in log/pip-install.txt)"
  mkdir -p log
  { python -m pip install -r requirements.txt &&
    python -m pip install -r requirements-ros.txt &&
    python -m pip install --no-deps -e . ; } > log/pip-install.txt 2>&1 \
    || { tail -30 log/pip-install.txt >&2; echo "setup: error: pip install failed; full log in log/pip-install.txt" >&2; exit 1; }
  python -c "import torch, torchvision, cv2, pycocotools, onnxruntime, rosbags, rclpy, colcon_core" \
    || { echo "setup: error: dependencies did not install; see log/pip-install.txt" >&2; exit 1; }
  echo "$want" > .venv/.automask-deps
fi

built=$(stamp CMakeLists.txt cmake/*.cmake package.xml msg/*.msg srv/*.srv action/*.action <(ls bin launch config))
if [ "$(cat install/.automask-build 2>/dev/null)" != "$built" ]; then
  echo "setup: building the automask ROS 2 package into install/"
  export AMENT_PREFIX_PATH=$VIRTUAL_ENV CMAKE_PREFIX_PATH=$VIRTUAL_ENV
  mkdir -p log
  colcon --log-base log build --symlink-install --event-handlers console_cohesion- \
    --cmake-args -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" -DAUTOMASK_FIX_WHEEL_INCLUDES=ON \
    > log/colcon-build.txt 2>&1 || { tail -40 log/colcon-build.txt >&2;
      echo "setup: error: colcon build failed; full log in log/colcon-build.txt" >&2; exit 1; }
  echo "$built" > install/.automask-build
fi
bash scripts/setup_vendor.sh
echo "setup: ready (source scripts/env.sh to use it in a shell)"
