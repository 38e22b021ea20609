# Detects the CUDA toolkit and NCCL. Sets DELTARL_HAVE_NCCL and, when found, the
# imported target deltarl_nccl (NCCL + CUDA runtime). DELTARL_WITH_NCCL=ON makes a
# missing NCCL an error, OFF skips the search.
set(DELTARL_HAVE_NCCL OFF)
if(NOT DELTARL_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    find_path(NCCL_INCLUDE_DIR nccl.h
      HINTS $ENV{NCCL_HOME}/include ${CUDAToolkit_INCLUDE_DIRS})
    find_library(NCCL_LIBRARY NAMES nccl
      HINTS $ENV{NCCL_HOME}/lib $ENV{NCCL_HOME}/lib64 ${CUDAToolkit_LIBRARY_DIR})
  endif()
  if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(DELTARL_HAVE_NCCL ON)
    add_library(deltarl_nccl INTERFACE IMPORTED)
    target_include_directories(deltarl_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
    target_link_libraries(deltarl_nccl INTERFACE ${NCCL_LIBRARY} CUDA::cudart)
  elseif(DELTARL_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "DELTARL_WITH_NCCL=ON but the CUDA toolkit or NCCL was not found "
                        "(set NCCL_HOME or CUDAToolkit_ROOT)")
  endif()
endif()
