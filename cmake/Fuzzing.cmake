# -DL2SWEEP_FUZZ=ON (with clang++) adds idx_fuzzer, a libFuzzer target for the IDX reader.
# scripts/fuzz_idx.sh configures, builds and runs it.
option(L2SWEEP_FUZZ "Build the libFuzzer target for the IDX reader (needs clang)" OFF)

if(L2SWEEP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "L2SWEEP_FUZZ needs clang++ (CMAKE_CXX_COMPILER=clang++)")
  endif()
  add_executable(idx_fuzzer "${PROJECT_SOURCE_DIR}/tests/fuzz/idx_fuzzer.cpp"
                            "${PROJECT_SOURCE_DIR}/lib/src/data.cpp"
                            "${PROJECT_SOURCE_DIR}/lib/src/error.cpp")
  target_include_directories(idx_fuzzer PRIVATE "${PROJECT_SOURCE_DIR}/lib/include")
  target_compile_features(idx_fuzzer PRIVATE cxx_std_17)
  target_compile_options(idx_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(idx_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(idx_fuzzer PRIVATE l2sweep::torch fmt::fmt ZLIB::ZLIB)
endif()
