// The translation unit of l2sweep_pch, the precompiled LibTorch header every layer that
// uses LibTorch reuses (cmake/Layers.cmake). It has no code of its own.
