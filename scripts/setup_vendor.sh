#!/usr/bin/env bash
# Upstream ROS 2 packages that PyPI lacks (launch, launch_ros, sensor_msgs_py, vision_msgs,
# composition_interfaces), built from ../shared/vendor into .vendor/ for the tests and
# benchmarks. A user's ROS 2 installation has all of them; without ../shared/vendor this step
# is skipped and the tests that need them skip too. Called by scripts/setup.sh with the venv
# active. Idempotent: skipped when neither the sources nor this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=${AUTOMASK_VENDOR:-../shared/vendor}
[ -d "$VENDOR" ] || { echo "setup: no $VENDOR: launch/vision_msgs tests will skip"; exit 0; }

want=$( { find "$VENDOR" -path '*/build' -prune -o -type f -printf '%P %s\n' | sort;
          cat scripts/setup_vendor.sh cmake/fix_wheel_includes.cmake; } | sha256sum | cut -c1-16)
[ "$(cat .vendor/.stamp 2>/dev/null)" = "$want" ] && exit 0

echo "setup: building upstream launch, launch_ros, sensor_msgs_py, vision_msgs, composition_interfaces" \
     "from $VENDOR into .vendor/ (first run: a few minutes; log in log/vendor-build.txt)"
rm -rf .vendor && mkdir -p .vendor/src log
# ../shared is read-only: build from a copy, without upstream's own build leftovers
for pkg in launch launch_ros sensor_msgs_py vision_msgs composition_interfaces; do
  cp -r "$VENDOR/$pkg" .vendor/src/
  rm -rf ".vendor/src/$pkg/build" .vendor/src/"$pkg"/*.egg-info
done
{
  python -m pip install osrf-pycommon &&
  for pkg in launch launch_ros sensor_msgs_py; do python -m pip install --no-deps ".vendor/src/$pkg" || exit 1; done &&
  AMENT_PREFIX_PATH=$VIRTUAL_ENV CMAKE_PREFIX_PATH=$VIRTUAL_ENV \
  colcon --log-base .vendor/log build --base-paths .vendor/src/vision_msgs .vendor/src/composition_interfaces \
    --build-base .vendor/build --install-base .vendor/install --event-handlers console_cohesion- \
    --cmake-args -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" -DBUILD_TESTING=OFF \
      -DCMAKE_PROJECT_INCLUDE="$PWD/cmake/fix_wheel_includes.cmake" -DAUTOMASK_DEFER_FIX=ON
} > log/vendor-build.txt 2>&1 || { tail -30 log/vendor-build.txt >&2;
  echo "setup: error: building the upstream packages failed; full log in log/vendor-build.txt" >&2; exit 1; }
echo "$want" > .vendor/.stamp
