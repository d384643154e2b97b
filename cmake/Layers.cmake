# l2sweep_layer(NAME <layer> SOURCES <files...> [DEPENDS <l2sweep::layer...>]
#               [LIBRARIES <third-party targets...>] [TORCH])
#
# One layer of the library: a static library l2sweep_<layer> (alias l2sweep::<layer>) built
# from lib/<layer>/src, whose public headers are lib/<layer>/include/l2sweep/<layer>/. Only its
# own include folder and those of the layers it DEPENDS on are on its include path, so a
# layer that includes a header of a layer above it does not compile, and the link order
# follows the data flow. TORCH: the layer uses LibTorch, and reuses the one precompiled
# LibTorch header below (parsing LibTorch's headers dominates build time).
#
# Every layer is compiled as C++${L2SWEEP_CXX_STANDARD} (cmake/Dependencies.cmake: 20 where
# LibTorch requires it).

add_library(l2sweep_pch OBJECT "${CMAKE_CURRENT_LIST_DIR}/precompiled_torch.cpp")
target_compile_features(l2sweep_pch PUBLIC cxx_std_${L2SWEEP_CXX_STANDARD})
target_link_libraries(l2sweep_pch PUBLIC l2sweep::torch PRIVATE l2sweep::warnings)
target_precompile_headers(l2sweep_pch PRIVATE <torch/nn.h> <torch/optim/adam.h>)

function(l2sweep_layer)
  cmake_parse_arguments(LAYER "TORCH" "NAME" "SOURCES;DEPENDS;LIBRARIES" ${ARGN})
  set(target l2sweep_${LAYER_NAME})
  add_library(${target} STATIC ${LAYER_SOURCES})
  add_library(l2sweep::${LAYER_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/include")
  target_compile_features(${target} PUBLIC cxx_std_${L2SWEEP_CXX_STANDARD})
  target_link_libraries(${target} PUBLIC ${LAYER_DEPENDS} ${LAYER_LIBRARIES}
                        PRIVATE l2sweep::warnings)
  if(LAYER_TORCH)
    target_link_libraries(${target} PUBLIC l2sweep::torch)
    target_precompile_headers(${target} REUSE_FROM l2sweep_pch)
  endif()
endfunction()
