# Warnings live in an INTERFACE target that our own targets link PRIVATE,
# so they never leak to consumers and never apply to third-party headers
# (LibTorch is included as a system directory).

add_library(l2sweep_warnings INTERFACE)
add_library(l2sweep::warnings ALIAS l2sweep_warnings)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(l2sweep_warnings INTERFACE -Wall -Wextra -Wshadow
                                                    -Wnon-virtual-dtor -Wpedantic)
endif()
# Everything of ours that gets the warnings also gets the sanitizers when they are on.
target_link_libraries(l2sweep_warnings INTERFACE l2sweep::sanitizers)
