# -DL2SWEEP_FUZZ=ON (with clang++) adds idx_fuzzer, a libFuzzer target for the IDX reader. It
# links the library's data layer (instrumented for coverage here) rather than recompiling it.
# scripts/fuzz_idx.sh configures, builds and runs it.
option(L2SWEEP_FUZZ "Build the libFuzzer target for the IDX reader (needs clang)" OFF)

if(L2SWEEP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "L2SWEEP_FUZZ needs clang++ (CMAKE_CXX_COMPILER=clang++)")
  endif()
  set(_fuzz_flags -fsanitize=fuzzer-no-link,address,undefined -g)
  target_compile_options(l2sweep_base PRIVATE ${_fuzz_flags})
  target_compile_options(l2sweep_data PRIVATE ${_fuzz_flags})
  # clang refuses a precompiled header built with other flags.
  set_target_properties(l2sweep_data PROPERTIES DISABLE_PRECOMPILE_HEADERS ON)
  add_executable(idx_fuzzer "${PROJECT_SOURCE_DIR}/tests/fuzz/idx_fuzzer.cpp")
  target_compile_options(idx_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(idx_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(idx_fuzzer PRIVATE l2sweep::data)
endif()
