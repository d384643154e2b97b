#include "l2sweep/train/adam.h"

namespace l2sweep {

torch::optim::AdamOptions keras_adam_options(double learning_rate) {
  return torch::optim::AdamOptions(learning_rate)
      .betas(std::make_tuple(kAdamBeta1, kAdamBeta2))
      .eps(kAdamEpsilon);
}

}  // namespace l2sweep
