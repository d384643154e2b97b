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

/// The fixture's training examples 3..34: one batch of 32, stepped in this order.
Split one_batch() {
  const Split& train = testing::small_fixture().train;
  return {train.images.slice(0, 3, 35), train.labels.slice(0, 3, 35)};
}

TEST(FusedCpuStep, FirstStepMatchesAutogradAndTorchAdam) {
  at::Generator a = make_cpu_generator(5);
  at::Generator b = make_cpu_generator(5);
  auto reference = make_model(784, kHiddenUnits, 10, a);
  auto fused_model = make_model(784, kHiddenUnits, 10, b);
  const double l2 = 0.01;
  const Split batch = one_batch();

  const auto w1 = first_linear(reference)->weight;
  torch::optim::Adam adam(reference->parameters(), keras_adam_options(1e-3));
  const auto logits = reference->forward(pixels(batch.images));
  const LossTerms terms = regularized_loss(logits, batch.labels, w1, l2);
  const auto correct = logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
  terms.loss.backward();
  adam.step();

  FusedCpuEngine fused({{fused_model, l2}}, TrainOptions{}, torch::kCPU);
  const TrainMetrics result = fused.train_epoch(batch, torch::arange(32), {})[0];
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
  testing::expect_engine_tracks_autograd("fused", testing::small_fixture(), torch::kCPU,
                                         /*own_products=*/true);
}

TEST(FusedCpuStep, AppliesTorchsOrKerasAdamAsAsked) {
  testing::expect_engine_applies_the_chosen_adam("fused", testing::small_fixture());
}

TEST(FusedCpuStep, ReportsThePenaltyOfTheWeightsBeforeTheUpdate) {
  at::Generator generator = make_cpu_generator(2);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  const double l2 = 0.5;
  const double before = l2_penalty(first_linear(model)->weight, l2).item<double>();
  FusedCpuEngine fused({{model, l2}}, TrainOptions{}, torch::kCPU);
  const TrainMetrics result = fused.train_epoch(one_batch(), torch::arange(32), {})[0];
  EXPECT_NEAR(result.loss - result.data_loss, before, 1e-5 * before);
  const double after = l2_penalty(first_linear(model)->weight, l2).item<double>();
  EXPECT_GT(std::abs(after - before), 1e-3);  // the weights did move
}

TEST(FusedCpuStep, StepsACohortAsOneAndEachMemberAsIfAlone) {
  // Three members with their own strengths, stepped together, against each one alone: the
  // same bits, parameters and metrics.
  const std::vector<double> strengths{0.0, 1e-3, 1e-2};
  const Split& train = testing::small_fixture().train;
  const torch::Tensor order = torch::randperm(train.size(), make_cpu_generator(3));
  std::vector<Member> cohort;
  for (const double l2 : strengths) {
    at::Generator g = make_cpu_generator(7);
    cohort.push_back({make_model(784, kHiddenUnits, 10, g), l2});
  }
  FusedCpuEngine together(cohort, TrainOptions{}, torch::kCPU);
  std::vector<TrainMetrics> together_metrics;
  for (int epoch = 0; epoch < 2; ++epoch) together_metrics = together.train_epoch(train, order, {});
  const std::vector<EvalMetrics> together_val = together.evaluate(testing::small_fixture().val, {});
  for (size_t r = 0; r < strengths.size(); ++r) {
    at::Generator g = make_cpu_generator(7);
    auto model = make_model(784, kHiddenUnits, 10, g);
    FusedCpuEngine alone({{model, strengths[r]}}, TrainOptions{}, torch::kCPU);
    TrainMetrics metrics;
    for (int epoch = 0; epoch < 2; ++epoch) metrics = alone.train_epoch(train, order, {})[0];
    EXPECT_EQ(metrics.loss, together_metrics[r].loss) << "l2 " << strengths[r];
    EXPECT_EQ(metrics.data_loss, together_metrics[r].data_loss);
    EXPECT_EQ(metrics.accuracy, together_metrics[r].accuracy);
    const EvalMetrics val = alone.evaluate(testing::small_fixture().val, {})[0];
    EXPECT_EQ(val.loss, together_val[r].loss);
    EXPECT_EQ(val.accuracy, together_val[r].accuracy);
    const auto a = model->parameters();
    const auto b = cohort[r].model->parameters();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  }
}

TEST(FusedCpuStep, GivesTheSameBitsOnAnyNumberOfThreads) {
  // A cohort with Dropout, decay and a partial batch, stepped on one thread and spread over
  // three (more threads than this machine may have cores, so their order varies): the same
  // parameters, Adam state and metrics, training and evaluation.
  const Split& train = testing::small_fixture().train;
  const torch::Tensor order = torch::randperm(train.size(), make_cpu_generator(4));
  struct Setting {
    double l2, dropout, weight_decay;
  };
  const std::vector<Setting> settings{{0.0, 0.0, 0.0}, {1e-3, 0.3, 0.0}, {1e-2, 0.0, 0.5}};
  const auto train_on = [&](int64_t threads) {
    std::vector<Member> cohort;
    for (const Setting& s : settings) {
      at::Generator g = make_cpu_generator(11);
      cohort.push_back(
          {make_model(784, kHiddenUnits, 10, g, s.dropout), s.l2, s.dropout, s.weight_decay});
    }
    TrainOptions options;
    options.threads = threads;
    FusedCpuEngine engine(cohort, options, torch::kCPU);
    EpochControl control;
    control.dropout_noise = torch::rand({train.size(), kHiddenUnits}, make_cpu_generator(5));
    std::vector<TrainMetrics> metrics;
    for (int epoch = 0; epoch < 2; ++epoch) metrics = engine.train_epoch(train, order, control);
    const std::vector<EvalMetrics> val = engine.evaluate(testing::small_fixture().val, {});
    std::vector<torch::Tensor> state;
    for (const Member& m : cohort) {
      for (const auto& p : m.model->parameters()) state.push_back(p.detach().clone());
    }
    return std::tuple{metrics, val, state};
  };
  const auto [one_metrics, one_val, one_state] = train_on(1);
  const auto [three_metrics, three_val, three_state] = train_on(3);
  for (size_t r = 0; r < settings.size(); ++r) {
    EXPECT_EQ(one_metrics[r].loss, three_metrics[r].loss) << r;
    EXPECT_EQ(one_metrics[r].data_loss, three_metrics[r].data_loss) << r;
    EXPECT_EQ(one_metrics[r].accuracy, three_metrics[r].accuracy) << r;
    EXPECT_EQ(one_val[r].loss, three_val[r].loss) << r;
    EXPECT_EQ(one_val[r].accuracy, three_val[r].accuracy) << r;
    EXPECT_EQ(one_val[r].dead_units, three_val[r].dead_units) << r;
  }
  ASSERT_EQ(one_state.size(), three_state.size());
  for (size_t i = 0; i < one_state.size(); ++i) {
    EXPECT_TRUE(torch::equal(one_state[i], three_state[i])) << "parameter " << i;
  }
}

TEST(FusedCpuStep, AFailingTaskStopsTheStepOnEveryThread) {
  // A Dropout member without the epoch's noise fails inside a task on some thread: the step
  // throws that error (not a hang, not the other threads' echo of it).
  at::Generator g = make_cpu_generator(2);
  auto model = make_model(784, kHiddenUnits, 10, g, 0.5);
  TrainOptions options;
  options.threads = 2;
  FusedCpuEngine fused({{model, 0.0, 0.5}}, options, torch::kCPU);
  try {
    fused.train_epoch(one_batch(), torch::arange(32), {});
    ADD_FAILURE() << "expected an error";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("without the epoch's noise"), std::string::npos)
        << error.what();
  }
}

TEST(FusedCpuStep, ThreadsWithoutAPieceChangeNoBit) {
  // One member has two pieces: of five threads, three own none and only gather their part of
  // each batch and take heads, so they run ahead into the next batch's gather. 125 steps an
  // epoch in runs of 64 and 61.
  const Split& train = testing::small_fixture().train;
  const torch::Tensor order = torch::randperm(train.size(), make_cpu_generator(6));
  const auto train_on = [&](int64_t threads) {
    at::Generator g = make_cpu_generator(12);
    auto model = make_model(784, kHiddenUnits, 10, g);
    TrainOptions options;
    options.threads = threads;
    options.batch_size = 4;
    FusedCpuEngine engine({{model, 1e-3}}, options, torch::kCPU);
    const TrainMetrics metrics = engine.train_epoch(train, order, {}).front();
    std::vector<torch::Tensor> state;
    for (const auto& p : model->parameters()) state.push_back(p.detach().clone());
    return std::pair{metrics, state};
  };
  const auto [one_metrics, one_state] = train_on(1);
  const auto [five_metrics, five_state] = train_on(5);
  EXPECT_EQ(one_metrics.loss, five_metrics.loss);
  EXPECT_EQ(one_metrics.accuracy, five_metrics.accuracy);
  ASSERT_EQ(one_state.size(), five_state.size());
  for (size_t i = 0; i < one_state.size(); ++i) {
    EXPECT_TRUE(torch::equal(one_state[i], five_state[i])) << "parameter " << i;
  }
}

TEST(FusedCpuStep, RunsOfStepsAreShorterForLargerCohortsAndBatches) {
  // About the work of 64 steps of the seed's sweep, so that a stop request waits no longer.
  EXPECT_EQ(FusedCpuEngine::steps_per_run(3, 32, 784, 128), 64);
  EXPECT_EQ(FusedCpuEngine::steps_per_run(1, 4, 784, 128), 64);
  EXPECT_EQ(FusedCpuEngine::steps_per_run(12, 32, 784, 128), 16);
  EXPECT_EQ(FusedCpuEngine::steps_per_run(6, 128, 784, 128), 8);
  EXPECT_EQ(FusedCpuEngine::steps_per_run(45, 128, 784, 128), 1);
  EXPECT_EQ(FusedCpuEngine::steps_per_run(3, 32, 784, 2048), 4);
}

TEST(FusedCpuStep, ReportsEveryRunOfStepsOfALargeCohort) {
  // 40 members with batches of 96: one step a run, so a report (and a look at the stop
  // request) after every batch.
  std::vector<Member> cohort;
  for (int r = 0; r < 40; ++r) {
    at::Generator g = make_cpu_generator(r);
    cohort.push_back({make_model(784, kHiddenUnits, 10, g), 1e-4 * r});
  }
  TrainOptions options;
  options.batch_size = 96;  // 5 full batches and one of 20
  options.threads = 2;
  FusedCpuEngine fused(cohort, options, torch::kCPU);
  std::vector<int64_t> reports;
  EpochControl control;
  control.on_batch = [&](int64_t done, int64_t) { reports.push_back(done / 40); };
  const Split& train = testing::small_fixture().train;
  fused.train_epoch(train, torch::arange(train.size()), control);
  EXPECT_EQ(reports, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST(FusedCpuStep, StopsAfterARunOfStepsWhenAskedTo) {
  at::Generator generator = make_cpu_generator(2);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  TrainOptions options;
  options.batch_size = 4;  // 125 batches: runs of 64 and 61 steps
  options.threads = 2;
  FusedCpuEngine fused({{model, 0.0}}, options, torch::kCPU);
  StopSource stop;
  EpochControl control;
  control.stop = stop.token();
  std::vector<int64_t> reports;
  control.on_batch = [&](int64_t done, int64_t steps) {
    reports.push_back(done);
    EXPECT_EQ(steps, 125);
    stop.request_stop();
  };
  const Split& train = testing::small_fixture().train;
  EXPECT_THROW(fused.train_epoch(train, torch::arange(train.size()), control), StopRequested);
  EXPECT_EQ(reports, std::vector<int64_t>{FusedCpuEngine::kStepsPerRun});
  EXPECT_EQ(fused.steps(), FusedCpuEngine::kStepsPerRun);
}

TEST(FusedCpuStep, ReportsEachRunOfStepsAndTheLastPartialBatch) {
  at::Generator generator = make_cpu_generator(2);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  TrainOptions options;
  options.batch_size = 3;  // 166 full batches (runs of 64, 64 and 38) and one of 2 examples
  auto other = make_model(784, kHiddenUnits, 10, generator);
  FusedCpuEngine fused({{model, 0.0}, {other, 0.01}}, options, torch::kCPU);
  std::vector<int64_t> reports;
  EpochControl control;
  control.on_batch = [&](int64_t done, int64_t steps) {
    reports.push_back(done);
    EXPECT_EQ(steps, 2 * 167);  // a step is one member's update
  };
  const Split& train = testing::small_fixture().train;
  fused.train_epoch(train, torch::arange(train.size()), control);
  EXPECT_EQ(reports, (std::vector<int64_t>{2 * 64, 2 * 128, 2 * 166, 2 * 167}));
  EXPECT_EQ(fused.steps(), 167);
}

}  // namespace
}  // namespace l2sweep
