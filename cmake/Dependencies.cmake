# Every third-party dependency is found here, from system packages (Debian's
# libtorch-dev, libfmt-dev, libcxxopts-dev, libgtest-dev, zlib1g-dev, nlohmann-json3-dev,
# libboost-math-dev) or a
# LibTorch named by CMAKE_PREFIX_PATH / Torch_DIR (e.g. a CUDA build).

find_package(Torch REQUIRED)
find_package(fmt REQUIRED)
find_package(cxxopts REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
# Boost.Math (header-only): Student's t and the incomplete beta function (lib/stats). The
# module, not BoostConfig: a GPU machine gets only the headers (scripts/device_check.sh).
set(Boost_NO_BOOST_CMAKE ON)
find_package(Boost 1.71 REQUIRED)

# TorchConfig finds libtorch.so with find_library, which searches the system's folders before
# LibTorch's own: with Debian's libtorch-dev installed too, a prefix of torch/share/cmake alone
# would pair the CUDA build's headers with Debian's library. Refuse that mix.
get_filename_component(_l2sweep_torch_library_dir "${TORCH_LIBRARY}" DIRECTORY)
get_filename_component(_l2sweep_torch_prefix "${TORCH_INSTALL_PREFIX}" REALPATH)
get_filename_component(_l2sweep_torch_library_dir "${_l2sweep_torch_library_dir}" REALPATH)
string(FIND "${_l2sweep_torch_library_dir}/" "${_l2sweep_torch_prefix}/" _l2sweep_inside)
if(NOT _l2sweep_inside EQUAL 0)
  message(FATAL_ERROR
    "LibTorch's headers come from ${TORCH_INSTALL_PREFIX} but its library from "
    "${TORCH_LIBRARY}; put LibTorch's own folder first in CMAKE_PREFIX_PATH (for a pip "
    "install: the torch package folder itself, python -c 'import torch, os; "
    "print(os.path.dirname(torch.__file__))')")
endif()

# LibTorch's config exports plain variables; wrap them in one target so the
# rest of the build links `l2sweep::torch` like any other dependency.
add_library(l2sweep_torch INTERFACE)
add_library(l2sweep::torch ALIAS l2sweep_torch)
target_include_directories(l2sweep_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
# PyTorch's wheels (2.5 and later, pytorch/pytorch#133437) export the std::filesystem functions
# of the libstdc++ they link statically, and a program resolves its own references in the
# order of its DT_NEEDED entries: with LibTorch first, std::filesystem::remove_all jumps into
# LibTorch's copy and crashes. So the system's libstdc++ is always needed before LibTorch.
target_link_libraries(l2sweep_torch INTERFACE "-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state"
                                              ${TORCH_LIBRARIES})
# LibTorch 2.12 and later refuse to compile below C++20 (ATen's headers #error); the project
# builds as C++17 or C++20 alike, and every target of ours uses the one standard.
if(Torch_VERSION VERSION_GREATER_EQUAL 2.12)
  set(L2SWEEP_CXX_STANDARD 20)
else()
  set(L2SWEEP_CXX_STANDARD 17)
endif()
target_compile_features(l2sweep_torch INTERFACE cxx_std_${L2SWEEP_CXX_STANDARD})

# fmt, header-only and from the same headers LibTorch compiles against: PyTorch's wheels carry
# their own, newer fmt in torch/include/fmt, which comes before the system's on any include
# path that has LibTorch's, and a program built with those headers cannot link the system's
# libfmt. So every target of ours uses fmt through l2sweep::fmt, and never links libfmt.
add_library(l2sweep_fmt INTERFACE)
add_library(l2sweep::fmt ALIAS l2sweep_fmt)
target_link_libraries(l2sweep_fmt INTERFACE fmt::fmt-header-only)
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt/format.h")
  target_include_directories(l2sweep_fmt SYSTEM INTERFACE "${TORCH_INSTALL_PREFIX}/include")
  message(STATUS "l2sweep: fmt from LibTorch's headers (${TORCH_INSTALL_PREFIX}/include/fmt)")
endif()

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

# at::_fused_adam_: Adam over all parameters in one kernel, reading the step count from a
# device tensor, which DeviceAdam uses on CUDA when LibTorch declares it (1.13 has its CUDA
# kernel only; lib/train/src/engines/tensor/device_adam.cpp). Compiled, not linked, against the LibTorch above.
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)
cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS})
set(CMAKE_REQUIRED_QUIET ON)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(_l2sweep_fused_adam_source
    "#include <ATen/ATen.h>
void adam(at::Tensor p, at::Tensor g, at::Tensor m, at::Tensor v, at::Tensor t) {
  at::_fused_adam_({p}, {g}, {m}, {v}, {}, {t}, 1e-3, 0.9, 0.999, 0.0, 1e-7, false, false);
}
int main() { return 0; }")
set(CMAKE_REQUIRED_FLAGS "-std=c++17")
check_cxx_source_compiles("${_l2sweep_fused_adam_source}" L2SWEEP_TORCH_HAS_FUSED_ADAM)
if(NOT L2SWEEP_TORCH_HAS_FUSED_ADAM)
  set(CMAKE_REQUIRED_FLAGS "-std=c++20")
  check_cxx_source_compiles("${_l2sweep_fused_adam_source}" L2SWEEP_TORCH_HAS_FUSED_ADAM_CXX20)
  set(L2SWEEP_TORCH_HAS_FUSED_ADAM ${L2SWEEP_TORCH_HAS_FUSED_ADAM_CXX20})
endif()
cmake_pop_check_state()
if(L2SWEEP_TORCH_HAS_FUSED_ADAM)
  target_compile_definitions(l2sweep_torch INTERFACE L2SWEEP_HAVE_FUSED_ADAM=1)
endif()
message(STATUS "l2sweep: at::_fused_adam_ available: ${L2SWEEP_TORCH_HAS_FUSED_ADAM}")
