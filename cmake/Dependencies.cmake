# Every third-party dependency is found here, from system packages (Debian's
# libtorch-dev, libfmt-dev, libcxxopts-dev, libgtest-dev, zlib1g-dev) or from a
# LibTorch named by CMAKE_PREFIX_PATH / Torch_DIR (e.g. a CUDA build).

find_package(Torch REQUIRED)
find_package(fmt REQUIRED)
find_package(cxxopts REQUIRED)
find_package(ZLIB REQUIRED)

# LibTorch's config exports plain variables; wrap them in one target so the
# rest of the build links `l2sweep::torch` like any other dependency.
add_library(l2sweep_torch INTERFACE)
add_library(l2sweep::torch ALIAS l2sweep_torch)
target_include_directories(l2sweep_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(l2sweep_torch INTERFACE ${TORCH_LIBRARIES})

# A CUDA LibTorch registers its kernels from static initialisers in
# libtorch_cuda; nothing references that library by symbol, so a linker that
# defaults to --as-needed drops it and torch::cuda::is_available() says false.
if(TARGET torch_cuda)
  set(L2SWEEP_TORCH_HAS_CUDA ON)
  target_link_options(l2sweep_torch INTERFACE "LINKER:--no-as-needed")
  target_compile_definitions(l2sweep_torch INTERFACE L2SWEEP_WITH_CUDA=1)
else()
  set(L2SWEEP_TORCH_HAS_CUDA OFF)
endif()
message(STATUS "l2sweep: LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}, CUDA: ${L2SWEEP_TORCH_HAS_CUDA}")
