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

/// Keras' Adam by hand in float32, as keras/src/optimizers/adam.py writes it, with AdamW's
/// decoupled decay before the update.
struct HandKerasAdam {
  float lr, decay = 0;
  float m = 0, v = 0;
  int t = 0;
  float step(float p, float g) {
    ++t;
    const float alpha = lr * std::sqrt(1.0f - std::pow(0.999f, static_cast<float>(t))) /
                        (1.0f - std::pow(0.9f, static_cast<float>(t)));
    p = p - p * decay * lr;
    m = m + (g - m) * 0.1f;
    v = v + (g * g - v) * 0.001f;
    return p - m * alpha / (std::sqrt(v) + 1e-7f);
  }
};

TEST(KerasAdamUpdate, MatchesKerasByHandInFloat32WithAndWithoutWeightDecay) {
  for (const float decay : {0.0f, 0.5f}) {
    auto p = torch::tensor({1.5f, -0.25f, 3e-4f}, torch::requires_grad(true));
    std::vector<torch::optim::OptimizerParamGroup> groups;
    auto options = std::make_unique<torch::optim::AdamOptions>(keras_adam_options(0.01));
    options->weight_decay(decay);
    groups.emplace_back(std::vector<torch::Tensor>{p}, std::move(options));
    KerasAdam adam(std::move(groups), keras_adam_options(0.01));
    std::vector<HandKerasAdam> hand(3, HandKerasAdam{0.01f, decay});
    std::vector<float> expected = {1.5f, -0.25f, 3e-4f};
    for (int step = 0; step < 6; ++step) {
      p.mutable_grad() = torch::Tensor();
      (p * p * p).sum().backward();  // gradient 3 p^2: a different size every step
      const torch::Tensor g = p.grad().clone();
      for (size_t i = 0; i < 3; ++i) {
        expected[i] = hand[i].step(expected[i], g[static_cast<int64_t>(i)].item<float>());
      }
      adam.step();
      for (size_t i = 0; i < 3; ++i) {
        EXPECT_NEAR(p[static_cast<int64_t>(i)].item<float>(), expected[i],
                    2e-7f * std::abs(expected[i]))
            << "decay " << decay << " step " << step + 1 << " element " << i;
      }
    }
  }
}

TEST(KerasAdamUpdate, PutsEpsilonWhereKerasDoesSoItDiffersFromTorchAdamForTinyGradients) {
  // With |g| near eps, eps inside or outside the bias correction changes the first step:
  // Keras' is lr * g / (|g| + eps / sqrt(1 - beta_2)), torch's lr * g / (|g| + eps).
  const auto step_with = [](bool keras) {
    auto p = torch::zeros({1}, torch::requires_grad(true));
    auto adam = make_adam({p}, p, /*learning_rate=*/1.0, /*weight_decay=*/0,
                          keras ? AdamVariant::kKeras : AdamVariant::kTorch);
    (p * 1e-7f).sum().backward();
    adam->step();
    return p.item<double>();
  };
  EXPECT_NEAR(step_with(false), -0.5, 1e-6);
  EXPECT_NEAR(step_with(true), -1e-7 / (1e-7 + 1e-7 / std::sqrt(0.001)), 1e-6);
}

TEST(MakeAdam, DecaysOnlyTheFirstKernelByLearningRateTimesWeightDecay) {
  for (const AdamVariant variant : {AdamVariant::kTorch, AdamVariant::kKeras}) {
    torch::nn::Linear first(4, 3), second(3, 2);
    std::vector<torch::Tensor> parameters = first->parameters();
    for (const auto& p : second->parameters()) parameters.push_back(p);
    std::vector<torch::Tensor> before;
    for (const auto& p : parameters) before.push_back(p.detach().clone());
    auto adam =
        make_adam(parameters, first->weight, /*learning_rate=*/0.1, /*weight_decay=*/2, variant);
    // Zero gradients: Adam's own step is 0, so only the decay moves a weight.
    for (auto& p : parameters) p.mutable_grad() = torch::zeros_like(p);
    adam->step();
    EXPECT_TRUE(torch::allclose(first->weight, before[0] * 0.8, 1e-6, 0)) << to_string(variant);
    for (size_t i = 1; i < parameters.size(); ++i) {
      EXPECT_TRUE(torch::equal(parameters[i], before[i])) << to_string(variant) << " " << i;
    }
  }
  // Without weight decay, the torch variant is torch::optim::Adam itself.
  torch::nn::Linear plain(2, 2);
  auto adam = make_adam(plain->parameters(), plain->weight, 1e-3, 0, AdamVariant::kTorch);
  EXPECT_NE(dynamic_cast<torch::optim::Adam*>(adam.get()), nullptr);
  EXPECT_EQ(dynamic_cast<KerasAdam*>(adam.get()), nullptr);
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
