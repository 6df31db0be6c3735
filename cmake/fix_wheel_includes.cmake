# PyPI ROS wheels only (see README, "Building without a ROS installation"):
# 1. their exported targets name the Python include dir of the machine that built them
#    (/opt/python/...): point those at this machine's Python and NumPy headers;
# 2. a venv inside the source tree makes CMake refuse to export include dirs from the source
#    tree, so a package's own targets use the venv's headers at build time only.
# A normal ROS 2 installation has correct paths and needs none of this.
#
# Our CMakeLists.txt calls automask_fix_wheel_includes() before ament_package(). Upstream
# packages (scripts/setup_vendor.sh) get it unmodified through
# -DCMAKE_PROJECT_INCLUDE=<this file> -DAUTOMASK_DEFER_FIX=ON: the call then runs deferred, at
# the end of their top-level CMakeLists.txt, when all targets exist.
function(automask_fix_wheel_includes)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
  set(_local_includes ${Python3_INCLUDE_DIRS} ${Python3_NumPy_INCLUDE_DIRS})
  get_property(_own DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(_imported DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY IMPORTED_TARGETS)
  foreach(_t IN LISTS _own _imported)
    get_target_property(_inc ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _inc)
      continue()
    endif()
    set(_new "")
    foreach(_d IN LISTS _inc)
      if(_d MATCHES "^/opt/python")
        list(APPEND _new ${_local_includes})
      elseif(NOT _t IN_LIST _imported AND _d MATCHES "^${CMAKE_SOURCE_DIR}/")
        list(APPEND _new "$<BUILD_INTERFACE:${_d}>")
      else()
        list(APPEND _new "${_d}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _new)
    set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new}")
  endforeach()
endfunction()

if(AUTOMASK_DEFER_FIX AND NOT _automask_fix_deferred)
  set(_automask_fix_deferred TRUE)
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL automask_fix_wheel_includes)
endif()
