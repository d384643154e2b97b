#include <gtest/gtest.h>
#include <torch/torch.h>

#include "l2sweep/data/data.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/engines/fused_cpu.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"
#include "test_support.h"

namespace l2sweep {
namespace {

using testing::all_close;

TEST(FusedCpuStep, FirstStepMatchesAutogradAndTorchAdam) {
  at::Generator a = make_cpu_generator(5);
  at::Generator b = make_cpu_generator(5);
  auto reference = make_model(784, kHiddenUnits, 10, a);
  auto fused_model = make_model(784, kHiddenUnits, 10, b);
  const double l2 = 0.01;
  const Split& train = testing::small_fixture().train;
  const auto indices = torch::arange(3, 35, torch::kInt64);

  const auto w1 = first_linear(reference)->weight;
  torch::optim::Adam adam(reference->parameters(), keras_adam_options(1e-3));
  const auto logits = reference->forward(train.images.index_select(0, indices));
  const auto labels = train.labels.index_select(0, indices);
  const LossTerms terms = regularized_loss(logits, labels, w1, l2);
  const auto correct = logits.argmax(1).eq(labels).sum().item<int64_t>();
  terms.loss.backward();
  adam.step();

  FusedCpuStep fused(fused_model, l2, 1e-3, 32);
  EpochMeters meters;
  fused.step(train.images, train.labels, indices, meters);
  const TrainMetrics result = meters.value();
  EXPECT_NEAR(result.data_loss, terms.data_loss.item<double>(), 1e-6);
  EXPECT_NEAR(result.loss, terms.loss.item<double>(), 1e-5);
  EXPECT_EQ(result.accuracy * 32, static_cast<double>(correct));
  EXPECT_EQ(fused.steps(), 1);
  const auto expected = reference->parameters();
  const auto actual = fused_model->parameters();
  // Adam's first step is lr * g / (|g| + eps): where |g| is near eps, the last bit of g moves
  // the step, so allow 1% of the learning rate.
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(all_close(actual[i], expected[i], 1e-5, 1e-5)) << "parameter " << i;
  }
}

TEST(FusedCpuStep, TracksAutogradAndTorchAdamOverManyStepsAndAPartialBatch) {
  testing::expect_engine_tracks_autograd(EngineKind::kFused, testing::small_fixture());
}

TEST(FusedCpuStep, ReportsThePenaltyOfTheWeightsBeforeTheUpdate) {
  at::Generator generator = make_cpu_generator(2);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  const double l2 = 0.5;
  const double before = l2_penalty(first_linear(model)->weight, l2).item<double>();
  FusedCpuStep fused(model, l2, 1e-3, 32);
  const auto indices = torch::arange(0, 32, torch::kInt64);
  EpochMeters meters;
  fused.step(testing::small_fixture().train.images, testing::small_fixture().train.labels, indices,
             meters);
  const TrainMetrics result = meters.value();
  EXPECT_NEAR(result.loss - result.data_loss, before, 1e-5 * before);
  const double after = l2_penalty(first_linear(model)->weight, l2).item<double>();
  EXPECT_GT(std::abs(after - before), 1e-3);  // the weights did move
}

}  // namespace
}  // namespace l2sweep
