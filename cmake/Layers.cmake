# l2sweep_layer(NAME <layer> SOURCES <files...> [DEPENDS <l2sweep::layer...>]
#               [LIBRARIES <third-party targets...>])
#
# One layer of the library: a static library l2sweep_<layer> (alias l2sweep::<layer>) built
# from lib/<layer>/src, whose public headers are lib/<layer>/include/l2sweep/<layer>/. Only its
# own include folder and those of the layers it DEPENDS on are on its include path, so a
# layer that includes a header of a layer above it does not compile, and the link order
# follows the data flow.
function(l2sweep_layer)
  cmake_parse_arguments(LAYER "" "NAME" "SOURCES;DEPENDS;LIBRARIES" ${ARGN})
  set(target l2sweep_${LAYER_NAME})
  add_library(${target} STATIC ${LAYER_SOURCES})
  add_library(l2sweep::${LAYER_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/include")
  target_compile_features(${target} PUBLIC cxx_std_17)
  target_link_libraries(${target} PUBLIC ${LAYER_DEPENDS} ${LAYER_LIBRARIES}
                        PRIVATE l2sweep::warnings)
endfunction()
