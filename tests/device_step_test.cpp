#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "l2sweep/data/data.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/sweep/runner.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/engines/cuda_graph.h"
#include "l2sweep/train/engines/tensor.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"
#include "l2sweep/train/trainer.h"
#include "test_support.h"

namespace l2sweep {
namespace {

using testing::all_close;

/// torch::optim::Adam's update (Keras' settings) in double precision on the CPU: the
/// reference that float rounding in any implementation drifts from, but a wrong update
/// (another beta, a missing bias correction, epsilon elsewhere) leaves.
struct DoubleAdam {
  torch::Tensor param, exp_avg, exp_avg_sq;
  int64_t steps = 0;

  explicit DoubleAdam(const torch::Tensor& start)
      : param(start.to(torch::kCPU, torch::kFloat64)),
        exp_avg(torch::zeros_like(param)),
        exp_avg_sq(torch::zeros_like(param)) {}

  void step(const torch::Tensor& grad_float) {
    const torch::Tensor grad = grad_float.to(torch::kCPU, torch::kFloat64);
    ++steps;
    exp_avg = kAdamBeta1 * exp_avg + (1 - kAdamBeta1) * grad;
    exp_avg_sq = kAdamBeta2 * exp_avg_sq + (1 - kAdamBeta2) * grad * grad;
    const double correction1 = 1 - std::pow(kAdamBeta1, static_cast<double>(steps));
    const double correction2 = 1 - std::pow(kAdamBeta2, static_cast<double>(steps));
    param -=
        1e-3 / correction1 * exp_avg / (exp_avg_sq.sqrt() / std::sqrt(correction2) + kAdamEpsilon);
  }
};

/// Whether `value` (float, any device) is within `rtol` * |reference| + `atol` of the double
/// `reference` everywhere.
bool near_double(const torch::Tensor& value, const torch::Tensor& reference, double rtol,
                 double atol) {
  const torch::Tensor v = value.detach().to(torch::kCPU, torch::kFloat64);
  return ((v - reference).abs() <= rtol * reference.abs() + atol).all().item<bool>();
}

/// DeviceAdam and torch::optim::Adam (Keras' settings) fed the same gradients for `steps`
/// steps on `device`, each against the double-precision DoubleAdam. The tolerances are float
/// rounding's: the second moment remembers about 1 / (1 - beta2) = 1,000 steps, and each adds
/// up to an ulp (6e-8) of bias (eager CUDA's mul_(0.999f) and addcmul_(0.001f) weights sum to
/// 1 + 1.3e-8; the fused kernel's to exactly 1), so exp_avg_sq may drift 1,000 x 6e-8 = 6e-5
/// relative, and the parameters follow at sqrt of that. torch::optim::Adam itself must pass
/// the same bounds (the check's control), and an update with beta2 = 0.9985 must not.
void expect_device_adam_matches_torch_adam(const torch::Device& device, int steps) {
  constexpr double kSecondMomentRtol = 6e-5;
  torch::manual_seed(3);
  const auto start = torch::randn({1000}).to(device);
  torch::Tensor reference = start.clone().requires_grad_(true);
  torch::optim::Adam adam({reference}, keras_adam_options(1e-3));
  torch::Tensor param = start.clone();
  DeviceAdam device_adam(param, 1e-3, kAdamBeta1, kAdamBeta2, kAdamEpsilon);
  torch::Tensor wrong_param = start.clone();
  DeviceAdam wrong(wrong_param, 1e-3, kAdamBeta1, 0.9985, kAdamEpsilon);
  DoubleAdam exact(start);
  at::Generator generator = make_cpu_generator(11);
  for (int step = 0; step < steps; ++step) {
    // Gradients over many magnitudes, including ones near epsilon, and some sign flips.
    const auto grad = (torch::randn({1000}, generator) * std::pow(10.0, -(step % 7))).to(device);
    reference.mutable_grad() = grad.clone();
    adam.step();
    device_adam.step(param, grad);
    wrong.step(wrong_param, grad);
    exact.step(grad);
  }
  EXPECT_EQ(device_adam.step_count().item<double>(), steps);
  // One parameter, one state (keyed by string in LibTorch 1.13 and by pointer in 2.x).
  ASSERT_EQ(adam.state().size(), 1u);
  const auto& state =
      static_cast<const torch::optim::AdamParamState&>(*adam.state().begin()->second);
  for (const auto& [name, moment, second, weights] :
       {std::tuple{"DeviceAdam", device_adam.exp_avg(), device_adam.exp_avg_sq(), param},
        std::tuple{"torch::optim::Adam", state.exp_avg(), state.exp_avg_sq(),
                   reference.detach()}}) {
    EXPECT_TRUE(near_double(weights, exact.param, 1e-5, 1e-6)) << name;
    // The first moment remembers 10 steps: a few ulps, two at the largest gradients (~1).
    EXPECT_TRUE(near_double(moment, exact.exp_avg, 1e-5, 2.5e-7)) << name;
    EXPECT_TRUE(near_double(second, exact.exp_avg_sq, kSecondMomentRtol, 1e-12)) << name;
  }
  EXPECT_FALSE(near_double(wrong.exp_avg_sq(), exact.exp_avg_sq, kSecondMomentRtol, 1e-12))
      << "a wrong beta2 would pass: the bound cannot tell an error from rounding";
}

TEST(DeviceAdam, MatchesTorchAdamOverManySteps) {
  expect_device_adam_matches_torch_adam(torch::kCPU, 3000);
}

TEST(DeviceAdam, MatchesTorchAdamOverManyStepsOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_device_adam_matches_torch_adam(torch::Device(torch::kCUDA, 0), 3000);
}

TEST(DeviceStep, TracksAutogradAndTorchAdamOverManyStepsAndAPartialBatch) {
  testing::expect_engine_tracks_autograd("tensor", testing::small_fixture());
}

TEST(DeviceStep, TracksAutogradWithDropoutDecayAndKerasAdamOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  testing::expect_engine_tracks_autograd("tensor", testing::small_fixture(),
                                         torch::Device(torch::kCUDA, 0));
}

TEST(DeviceStep, AppliesTorchsOrKerasAdamAsAsked) {
  testing::expect_engine_applies_the_chosen_adam("tensor", testing::small_fixture());
}

TEST(DeviceStep, FirstStepMeasuresEachMembersBatchBeforeItsUpdate) {
  // A split of exactly one batch, in order 0..31.
  Split train;
  train.images = testing::small_fixture().train.images.slice(0, 0, 32);
  train.labels = testing::small_fixture().train.labels.slice(0, 0, 32);
  // Two members with their own weights and strengths, stacked in one step.
  std::vector<Member> members;
  std::vector<torch::nn::Sequential> references;
  for (const auto& [seed, l2] : {std::pair{5, 0.01}, std::pair{7, 0.0}}) {
    at::Generator a = make_cpu_generator(static_cast<uint64_t>(seed));
    at::Generator b = make_cpu_generator(static_cast<uint64_t>(seed));
    references.push_back(make_model(784, kHiddenUnits, 10, a));
    members.push_back({make_model(784, kHiddenUnits, 10, b), l2});
  }
  DeviceStep step(members, 1e-3, 32);
  step.begin_epoch(train, torch::arange(32, torch::kInt64));
  ASSERT_EQ(step.full_batches(), 1);
  EXPECT_FALSE(step.has_tail());
  step.step_full_batch();
  const std::vector<TrainMetrics> means = step.epoch_means();
  ASSERT_EQ(means.size(), 2u);
  for (size_t r = 0; r < members.size(); ++r) {
    const auto logits = references[r]->forward(pixels(train.images));
    const LossTerms terms =
        regularized_loss(logits, train.labels, first_linear(references[r])->weight, members[r].l2);
    const double accuracy = logits.argmax(1).eq(train.labels).sum().item<double>() / 32;
    EXPECT_NEAR(means[r].data_loss, terms.data_loss.item<double>(), 1e-6) << r;
    EXPECT_NEAR(means[r].loss, terms.loss.item<double>(), 1e-5) << r;
    EXPECT_DOUBLE_EQ(means[r].accuracy, accuracy) << r;
    // The update moved the member's own model.
    EXPECT_FALSE(
        torch::equal(first_linear(members[r].model)->weight, first_linear(references[r])->weight));
  }
}

TEST(DeviceStep, RefusesASecondSplit) {
  at::Generator generator = make_cpu_generator(5);
  DeviceStep step({{make_model(784, kHiddenUnits, 10, generator), 0.0}}, 1e-3, 32);
  const Split& train = testing::small_fixture().train;
  step.begin_epoch(train, torch::arange(train.size(), torch::kInt64));
  const Split other{train.images.clone(), train.labels.clone()};
  EXPECT_THROW(step.begin_epoch(other, torch::arange(other.size(), torch::kInt64)), c10::Error);
}

TEST(DeviceStep, SweepGivesTheAutogradNumbersOnTheCpu) {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-2};
  config.epochs = 2;
  config.jobs = 1;
  SweepObserver quiet;
  config.engine = "autograd";
  const auto want = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  config.engine = "tensor";
  const auto got = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r) {
    const EpochMetrics& a = got[r].history.back();
    const EpochMetrics& b = want[r].history.back();
    EXPECT_NEAR(a.loss, b.loss, 1e-4 * b.loss);
    EXPECT_NEAR(a.val_loss, b.val_loss, 1e-4 * b.val_loss);
    EXPECT_NEAR(a.val_accuracy, b.val_accuracy, 0.011);
    EXPECT_NEAR(a.w1_norm, b.w1_norm, 1e-4 * b.w1_norm);
  }
}

TEST(EngineChoice, AutoIsFusedOnTheCpuAndGraphsOnCuda) {
  SweepConfig config;
  const torch::Device cuda(torch::kCUDA, 0);
  EXPECT_EQ(make_plan(config, torch::kCPU).engine->name, "fused");
  EXPECT_FALSE(make_plan(config, torch::kCPU).cuda_graphs);
  EXPECT_EQ(make_plan(config, cuda).engine->name, "tensor");
  EXPECT_TRUE(make_plan(config, cuda).cuda_graphs);
  // --cuda-graphs off: the straightforward loop, the baseline the fast path is checked against.
  config.cuda_graphs = false;
  EXPECT_EQ(make_plan(config, cuda).engine->name, "autograd");
  config.engine = "tensor";
  EXPECT_EQ(make_plan(config, cuda).engine->name, "tensor");
  EXPECT_FALSE(make_plan(config, cuda).cuda_graphs);
  config.cuda_graphs = true;
  EXPECT_FALSE(make_plan(config, torch::kCPU).cuda_graphs);
  config.engine = "autograd";
  EXPECT_EQ(make_plan(config, cuda).engine->name, "autograd");
  // One unit at a time on a GPU: the tensor engine stacks a cohort into each step, and the
  // autograd loop is the plain baseline.
  config.engine = "auto";
  EXPECT_EQ(testing::jobs_for(config, cuda, 3), 1);
  EXPECT_EQ(make_plan(config, cuda).units.size(), 1u);  // the three strengths, stacked
  config.cuda_graphs = false;
  EXPECT_EQ(testing::jobs_for(config, cuda, 3), 1);
}

// The CUDA fast path itself: these run only where there is a GPU (scripts/device_check.sh).

bool uses_cuda_graphs(const Trainer& trainer) {
  return dynamic_cast<const TensorEngine&>(trainer.engine()).uses_cuda_graphs();
}

Datasets on_cuda(const Datasets& host) { return host.to(torch::Device(torch::kCUDA, 0)); }

/// A model and a device-step Trainer on CUDA from seed 6, with or without a CUDA graph.
std::pair<torch::nn::Sequential, std::unique_ptr<Trainer>> cuda_trainer(bool graph) {
  const torch::Device cuda(torch::kCUDA, 0);
  at::Generator generator = make_cpu_generator(6);
  auto model = make_model(784, kHiddenUnits, 10, generator);
  model->to(cuda);
  TrainOptions options;
  options.shuffle_seed = 6;
  // 500 examples: 83 full batches, replayed by a graph of kStepsPerGraph (64) steps and one
  // of the remaining 19, and a last batch of 2.
  options.batch_size = 6;
  options.engine = "tensor";
  options.cuda_graphs = graph;
  return {model, std::make_unique<Trainer>(model, /*l2=*/1e-3, options, cuda)};
}

TEST(CudaGraph, ReplaysExactlyTheEagerDeviceStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Datasets data = on_cuda(testing::small_fixture());
  const DeviceStream stream(torch::Device(torch::kCUDA, 0));  // graphs need a stream of their own
  auto [eager_model, eager] = cuda_trainer(false);
  auto [graph_model, graph] = cuda_trainer(true);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const TrainMetrics want = eager->train_epoch(data.train)[0];
    const TrainMetrics got = graph->train_epoch(data.train)[0];
    ASSERT_TRUE(uses_cuda_graphs(*graph));
    // The same kernels on the same data: the warm-up steps before the capture are undone.
    EXPECT_EQ(got.loss, want.loss) << "epoch " << epoch + 1;
    EXPECT_EQ(got.accuracy, want.accuracy);
  }
  EXPECT_FALSE(uses_cuda_graphs(*eager));
  const auto a = eager_model->parameters();
  const auto b = graph_model->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

TEST(CudaGraph, ResumesFromItsStateBitForBit) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Datasets data = on_cuda(testing::small_fixture());
  const DeviceStream stream(torch::Device(torch::kCUDA, 0));
  auto [model, uninterrupted] = cuda_trainer(true);
  std::vector<TrainMetrics> expected;
  for (int epoch = 0; epoch < 3; ++epoch)
    expected.push_back(uninterrupted->train_epoch(data.train)[0]);

  auto [first_model, first] = cuda_trainer(true);
  first->train_epoch(data.train);
  torch::serialize::OutputArchive out;
  first->save_state(0, out);
  std::ostringstream bytes;
  out.save_to(bytes);
  auto [resumed_model, resumed] = cuda_trainer(true);
  torch::serialize::InputArchive in;
  std::istringstream saved(bytes.str());
  in.load_from(saved);
  resumed->load_state(0, in);
  for (int epoch = 1; epoch < 3; ++epoch) {
    const TrainMetrics got = resumed->train_epoch(data.train)[0];
    EXPECT_EQ(got.loss, expected[static_cast<size_t>(epoch)].loss) << "epoch " << epoch + 1;
  }
  const auto a = model->parameters();
  const auto b = resumed_model->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

TEST(CudaGraph, ConcurrentRunsGiveTheSameNumbersAsOneAtATime) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Datasets data = on_cuda(testing::small_fixture());
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-4, 1e-2};
  config.seeds = 2;
  config.epochs = 2;
  SweepObserver quiet;
  config.jobs = 1;
  const auto one = testing::sweep(config, data, torch::Device(torch::kCUDA, 0), quiet);
  // The two cohorts at once, each on a stream of its own, with the same stacked shapes (cuBLAS
  // may pick other kernels for cohorts of other sizes, so slices would not be bit-identical).
  config.jobs = 2;
  const auto all = testing::sweep(config, data, torch::Device(torch::kCUDA, 0), quiet);
  ASSERT_EQ(one.size(), 6u);
  ASSERT_EQ(all.size(), 6u);
  for (size_t r = 0; r < one.size(); ++r) {
    EXPECT_DOUBLE_EQ(all[r].history.back().loss, one[r].history.back().loss) << "run " << r;
    EXPECT_DOUBLE_EQ(all[r].history.back().val_accuracy, one[r].history.back().val_accuracy);
  }
}

TEST(CudaGraph, AgreesWithTheStraightforwardLoopAndTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Datasets data = on_cuda(testing::small_fixture());
  SweepConfig config;
  config.l2_strengths = {1e-2};
  config.epochs = 3;
  SweepObserver quiet;
  const auto graph = testing::sweep(config, data, torch::Device(torch::kCUDA, 0), quiet);
  config.cuda_graphs = false;  // auto -> autograd and torch::optim::Adam
  const auto plain = testing::sweep(config, data, torch::Device(torch::kCUDA, 0), quiet);
  const auto cpu = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  testing::expect_same_run_up_to_rounding(graph[0].history.back(), plain[0].history.back());
  testing::expect_same_run_up_to_rounding(graph[0].history.back(), cpu[0].history.back());
}

}  // namespace
}  // namespace l2sweep
