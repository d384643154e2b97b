# -DL2SWEEP_SANITIZE=ON builds our targets (library, app, tests) with AddressSanitizer and
# UndefinedBehaviorSanitizer. LibTorch itself stays uninstrumented; see docs/tests.md ("Sanitizers and fuzzing").
option(L2SWEEP_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

add_library(l2sweep_sanitizers INTERFACE)
add_library(l2sweep::sanitizers ALIAS l2sweep_sanitizers)
if(L2SWEEP_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "L2SWEEP_SANITIZE needs GCC or Clang")
  endif()
  set(_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  target_compile_options(l2sweep_sanitizers INTERFACE ${_sanitize_flags})
  target_link_options(l2sweep_sanitizers INTERFACE ${_sanitize_flags})
  message(STATUS "l2sweep: building with ASan and UBSan")
endif()
