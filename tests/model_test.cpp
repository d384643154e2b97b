#include "l2sweep/train/model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "test_support.h"

namespace l2sweep {
namespace {

TEST(Model, IsTheSeedsKerasNetworkWithSoftmaxFoldedIntoTheLoss) {
  at::Generator generator = make_cpu_generator(0);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  ASSERT_EQ(model->size(), 4u);
  EXPECT_NE(model[0]->as<torch::nn::Flatten>(), nullptr);
  auto* hidden = model[1]->as<torch::nn::Linear>();
  ASSERT_NE(hidden, nullptr);
  EXPECT_EQ(hidden->weight.sizes(), (std::vector<int64_t>{128, 784}));
  EXPECT_NE(model[2]->as<torch::nn::ReLU>(), nullptr);
  auto* output = model[3]->as<torch::nn::Linear>();
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(output->weight.sizes(), (std::vector<int64_t>{10, 128}));
  // Logits, not probabilities: rows need not sum to 1.
  const auto logits = model->forward(torch::rand({3, 28, 28}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10}));
}

TEST(Model, FirstLinearIsTheHiddenLayer) {
  at::Generator generator = make_cpu_generator(0);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  EXPECT_TRUE(first_linear(model)->weight.is_same(model[1]->as<torch::nn::Linear>()->weight));
}

TEST(Model, UsesKerasGlorotUniformWeightsAndZeroBiases) {
  at::Generator generator = make_cpu_generator(7);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  for (const auto& [fan_in, fan_out, index] :
       {std::tuple<double, double, size_t>{784, 128, 1}, {128, 10, 3}}) {
    auto* linear = model[index]->as<torch::nn::Linear>();
    const double bound = std::sqrt(6.0 / (fan_in + fan_out));
    const auto weight = linear->weight.detach();
    EXPECT_LE(weight.abs().max().item<double>(), bound);
    // LibTorch's default (kaiming_uniform with a = sqrt(5)) is bounded by 1/sqrt(fan_in):
    // for the 784x128 layer that is 0.0357, well below Glorot's 0.0811.
    EXPECT_GT(weight.abs().max().item<double>(), 0.97 * bound);
    EXPECT_NEAR(weight.mean().item<double>(), 0.0, bound / 20);
    EXPECT_NEAR(weight.var().item<double>(), bound * bound / 3, bound * bound / 15);
    EXPECT_EQ(linear->bias.abs().max().item<double>(), 0.0);
  }
}

TEST(Model, SameSeedGivesSameWeightsAndAnotherSeedDifferent) {
  at::Generator a = make_cpu_generator(3);
  at::Generator b = make_cpu_generator(3);
  at::Generator c = make_cpu_generator(4);
  const auto wa = first_linear(make_model(20, 8, 3, a))->weight;
  const auto wb = first_linear(make_model(20, 8, 3, b))->weight;
  const auto wc = first_linear(make_model(20, 8, 3, c))->weight;
  EXPECT_TRUE(torch::equal(wa, wb));
  EXPECT_FALSE(torch::equal(wa, wc));
}

TEST(Dropout, NoiseDependsOnTheSeedAndTheEpochOnly) {
  const torch::Tensor noise = dropout_noise(3, 1, 50, 8);
  EXPECT_EQ(noise.sizes(), torch::IntArrayRef({50, 8}));
  EXPECT_TRUE(torch::equal(noise, dropout_noise(3, 1, 50, 8)));
  EXPECT_FALSE(torch::equal(noise, dropout_noise(3, 2, 50, 8)));
  EXPECT_FALSE(torch::equal(noise, dropout_noise(4, 1, 50, 8)));
  EXPECT_GE(noise.min().item<float>(), 0.0f);
  EXPECT_LT(noise.max().item<float>(), 1.0f);
}

TEST(Dropout, KeepsUnitsWhoseNoiseReachesTheRateScaledAsKerasDoes) {
  KerasDropout dropout(0.25);
  const torch::Tensor noise = dropout_noise(0, 1, 400, 50);
  dropout->set_noise(noise);
  const torch::Tensor x = torch::rand({400, 50}) + 0.5;
  const torch::Tensor y = dropout->forward(x);
  const float scale = 1.0f / 0.75f;
  EXPECT_TRUE(torch::equal(y, torch::where(noise >= 0.25f, x * scale, torch::zeros_like(x))));
  EXPECT_NEAR(y.ne(0).to(torch::kFloat64).mean().item<double>(), 0.75, 0.01);
  EXPECT_NEAR(y.mean().item<double>(), x.mean().item<double>(), 0.01);  // inverted dropout
  dropout->eval();
  EXPECT_TRUE(torch::equal(dropout->forward(x), x));  // off when evaluating
}

TEST(Dropout, FollowsTheReluAndChangesNoInitialWeight) {
  at::Generator a = make_cpu_generator(6);
  at::Generator b = make_cpu_generator(6);
  const auto plain = make_model(784, kHiddenUnits, 10, a);
  auto dropped = make_model(784, kHiddenUnits, 10, b, 0.5);
  ASSERT_EQ(dropped->size(), plain->size() + 1);
  ASSERT_TRUE(dropped[3]->as<KerasDropout>() != nullptr);
  EXPECT_TRUE(dropped[2]->as<torch::nn::ReLU>() != nullptr);
  EXPECT_EQ(find_dropout(dropped)->rate(), 0.5);
  EXPECT_TRUE(find_dropout(plain).is_empty());
  const auto want = plain->parameters();
  const auto got = dropped->parameters();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(torch::equal(want[i], got[i]));
}

}  // namespace
}  // namespace l2sweep
