# Source this to use automask from this checkout: the venv, the built ROS 2 package and the
# Fast DDS profile (large shared-memory segment for camera images). `make setup` first.
_automask_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
# shellcheck disable=SC1091
. "$_automask_root/.venv/bin/activate"
# shellcheck disable=SC1091
. "$_automask_root/install/local_setup.bash"
# upstream launch, vision_msgs, ... built from ../shared/vendor by scripts/setup_vendor.sh
if [ -f "$_automask_root/.vendor/install/local_setup.bash" ]; then
  # shellcheck disable=SC1091
  . "$_automask_root/.vendor/install/local_setup.bash"
fi
export AMENT_PREFIX_PATH="$AMENT_PREFIX_PATH:$VIRTUAL_ENV"
# the source tree wins over the per-file symlinks colcon made, so new modules are seen at once
export PYTHONPATH="$_automask_root:$PYTHONPATH"
export FASTDDS_DEFAULT_PROFILES_FILE="$_automask_root/config/fastdds.xml"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
unset _automask_root
