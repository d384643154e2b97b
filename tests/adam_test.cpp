#include "l2sweep/train/adam.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "l2sweep/train/loss.h"
#include "l2sweep/train/trainer.h"
#include "test_support.h"

namespace l2sweep {
namespace {

TEST(KerasAdam, UsesKerasDefaults) {
  const auto options = keras_adam_options(1e-3);
  EXPECT_DOUBLE_EQ(options.lr(), 1e-3);
  EXPECT_DOUBLE_EQ(std::get<0>(options.betas()), 0.9);
  EXPECT_DOUBLE_EQ(std::get<1>(options.betas()), 0.999);
  EXPECT_DOUBLE_EQ(options.eps(), 1e-7);
  EXPECT_DOUBLE_EQ(options.weight_decay(), 0.0);  // the penalty is in the loss instead
  EXPECT_FALSE(options.amsgrad());
}

/// Adam by hand in double precision, as LibTorch writes it:
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
struct HandAdam {
  double lr, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  double m = 0, v = 0;
  int t = 0;
  double step(double p, double g) {
    ++t;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double bias1 = 1 - std::pow(b1, t);
    const double bias2 = 1 - std::pow(b2, t);
    return p - lr / bias1 * m / (std::sqrt(v) / std::sqrt(bias2) + eps);
  }
};

TEST(KerasAdam, FirstStepMovesEachWeightByLearningRateTimesSignOfGradient) {
  auto p = torch::tensor({0.5, -1.0, 2.0}, torch::dtype(torch::kFloat64).requires_grad(true));
  torch::optim::Adam adam({p}, keras_adam_options(0.01));
  // loss = sum(c * p) has gradient c.
  const auto c = torch::tensor({3.0, -0.25, 1e-3}, torch::kFloat64);
  (p * c).sum().backward();
  adam.step();
  // With m = 0.1 g and v = 0.001 g^2 the first step is lr * g / (|g| + eps).
  const std::vector<double> expected = {0.5 - 0.01 * 3.0 / (3.0 + 1e-7),
                                        -1.0 + 0.01 * 0.25 / (0.25 + 1e-7),
                                        2.0 - 0.01 * 1e-3 / (1e-3 + 1e-7)};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(p[i].item<double>(), expected[static_cast<size_t>(i)], 1e-15);
  }
}

TEST(KerasAdam, MatchesAdamByHandOverSeveralSteps) {
  auto p = torch::tensor({1.5}, torch::dtype(torch::kFloat64).requires_grad(true));
  torch::optim::Adam adam({p}, keras_adam_options(0.1));
  HandAdam hand{0.1};
  double expected = 1.5;
  for (int step = 0; step < 5; ++step) {
    p.mutable_grad() = torch::Tensor();
    const auto loss = (p * p).sum();  // gradient 2p
    loss.backward();
    expected = hand.step(expected, 2 * expected);
    adam.step();
    EXPECT_NEAR(p.item<double>(), expected, 1e-12) << "step " << step + 1;
  }
}

TEST(ClearGradients, LeavesEveryGradientUndefined) {
  torch::nn::Linear linear(3, 2);
  linear->forward(torch::ones({1, 3})).sum().backward();
  ASSERT_TRUE(linear->weight.grad().defined());
  clear_gradients(*linear);
  for (const auto& p : linear->parameters()) EXPECT_FALSE(p.grad().defined());
}

}  // namespace
}  // namespace l2sweep
