#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <set>
#include <string>

#include "l2sweep/data/data.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/data_order.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/metrics.h"
#include "l2sweep/train/model.h"
#include "l2sweep/train/trainer.h"
#include "test_support.h"

namespace l2sweep {
namespace {

using testing::all_close;

torch::nn::Sequential clone_model(const torch::nn::Sequential& model) {
  return torch::nn::Sequential(
      std::dynamic_pointer_cast<torch::nn::SequentialImpl>(model->clone()));
}

/// 5 examples with batch size 2: batches of 2, 2 and 1, so a weighted and an unweighted mean
/// over batches differ.
class HistorySemantics : public ::testing::Test {
 protected:
  HistorySemantics() {
    torch::manual_seed(5);
    train_ = {torch::rand({5, 2, 2}), torch::tensor({0, 1, 2, 1, 0}, torch::kInt64)};
    val_ = {torch::rand({4, 2, 2}), torch::tensor({2, 1, 0, 0}, torch::kInt64)};
    at::Generator generator = make_cpu_generator(3);
    model_ = make_model(4, 6, 3, generator);
    options_.learning_rate = 0.05;
    options_.batch_size = 2;
    options_.shuffle_seed = 11;
  }

  void expect_reference_epochs(Shuffle shuffle);

  Split train_, val_;
  torch::nn::Sequential model_{nullptr};
  double l2_ = 0.02;
  TrainOptions options_;
};

/// Trains 3 epochs with `shuffle` against a hand-written loop whose orders are randperms of
/// the shuffle seed's generator: a new one each epoch, or the first one every epoch.
void HistorySemantics::expect_reference_epochs(Shuffle shuffle) {
  options_.shuffle = shuffle;
  auto reference = clone_model(model_);
  const auto w1 = first_linear(reference)->weight;
  torch::optim::Adam adam(reference->parameters(), keras_adam_options(options_.learning_rate));
  at::Generator generator = make_cpu_generator(options_.shuffle_seed);
  const torch::Tensor first_order = torch::randperm(5, generator, torch::kInt64);
  Trainer trainer(model_, l2_, options_, torch::kCPU);

  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto order = epoch == 0 || shuffle == Shuffle::kOnce
                           ? first_order
                           : torch::randperm(5, generator, torch::kInt64);
    double loss_sum = 0, data_loss_sum = 0, correct = 0, unweighted = 0, after_update = 0;
    for (int64_t begin = 0; begin < 5; begin += 2) {
      const auto index = order.slice(0, begin, std::min<int64_t>(begin + 2, 5));
      const auto x = train_.images.index_select(0, index);
      const auto y = train_.labels.index_select(0, index);
      const auto logits = reference->forward(x);
      const auto terms = regularized_loss(logits, y, w1, l2_);
      const auto count = static_cast<double>(index.size(0));
      loss_sum += terms.loss.item<double>() * count;
      data_loss_sum += terms.data_loss.item<double>() * count;
      correct += logits.argmax(1).eq(y).sum().item<double>();
      unweighted += terms.loss.item<double>() / 3;
      clear_gradients(*reference);
      terms.loss.backward();
      adam.step();
      torch::NoGradGuard no_grad;
      after_update +=
          regularized_loss(reference->forward(x), y, w1, l2_).loss.item<double>() * count / 5;
    }

    const TrainMetrics metrics = trainer.train_epoch(train_)[0];
    EXPECT_NEAR(metrics.loss, loss_sum / 5, 1e-6) << "epoch " << epoch;
    EXPECT_NEAR(metrics.data_loss, data_loss_sum / 5, 1e-6);
    EXPECT_DOUBLE_EQ(metrics.accuracy, correct / 5);
    // The alternatives really are different numbers, so the checks above can fail.
    EXPECT_GT(std::abs(metrics.loss - unweighted), 1e-4);
    EXPECT_GT(std::abs(metrics.loss - after_update), 1e-4);
    for (size_t i = 0; i < model_->parameters().size(); ++i) {
      EXPECT_TRUE(all_close(model_->parameters()[i], reference->parameters()[i], 1e-5, 1e-7));
    }

    // Validation: after the epoch, with the final weights, over the whole split.
    torch::NoGradGuard no_grad;
    const auto val_terms = regularized_loss(reference->forward(val_.images), val_.labels, w1, l2_);
    const EvalMetrics val = trainer.evaluate(val_)[0];
    EXPECT_NEAR(val.data_loss, val_terms.data_loss.item<double>(), 1e-6);
    EXPECT_NEAR(val.penalty, val_terms.penalty.item<double>(), 1e-7);
    EXPECT_NEAR(val.loss, val_terms.loss.item<double>(), 1e-6);
    EXPECT_DOUBLE_EQ(
        val.accuracy,
        reference->forward(val_.images).argmax(1).eq(val_.labels).sum().item<double>() / 4);
    EXPECT_NEAR(trainer.w1_norm(0), w1.norm().item<double>(), 1e-6);
  }
}

TEST_F(HistorySemantics, EpochMetricsAreSampleWeightedMeansOfEachBatchBeforeItsUpdate) {
  expect_reference_epochs(Shuffle::kEachEpoch);
}

TEST_F(HistorySemantics, ShuffleOnceReplaysTheFirstEpochsOrderEveryEpoch) {
  expect_reference_epochs(Shuffle::kOnce);
}

TEST_F(HistorySemantics, KeepsTheLastPartialBatch) {
  std::vector<int64_t> batch_counts;
  Trainer trainer(model_, l2_, options_, torch::kCPU);
  EpochControl control;
  control.on_batch = [&](int64_t batch, int64_t batches) {
    batch_counts.push_back(batch);
    EXPECT_EQ(batches, 3);
  };
  trainer.train_epoch(train_, control);
  EXPECT_EQ(batch_counts, (std::vector<int64_t>{1, 2, 3}));
}

TEST(DataOrder, EachEpochDrawsANewPermutationAndOnceReplaysTheFirst) {
  at::Generator generator = make_cpu_generator(7);
  const torch::Tensor first = epoch_order(generator, 100);
  const torch::Tensor second = epoch_order(generator, 100);
  ASSERT_FALSE(torch::equal(first, second));

  DataOrder each(7, Shuffle::kEachEpoch);
  EXPECT_TRUE(torch::equal(each.next(100), first));
  EXPECT_TRUE(torch::equal(each.next(100), second));

  DataOrder once(7, Shuffle::kOnce);
  const torch::Tensor initial_state = once.state();
  for (int epoch = 0; epoch < 3; ++epoch) EXPECT_TRUE(torch::equal(once.next(100), first));
  // Its checkpointed state never changes, so a resume at any epoch replays the same order.
  EXPECT_TRUE(torch::equal(once.state(), initial_state));
  DataOrder resumed(7, Shuffle::kOnce);
  resumed.set_state(each.state());
  EXPECT_TRUE(torch::equal(resumed.next(100), first));
  EXPECT_NE(DataOrder(8, Shuffle::kOnce).next(100).equal(first), true) << "the seed decides it";
}

TEST(Training, AMemberWithAnInfiniteOrNaNParameterIsNotFinite) {
  for (const float bad :
       {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN()}) {
    at::Generator generator = make_cpu_generator(0);
    auto model = make_model(12, 8, 3, generator);
    TrainOptions options;
    Trainer trainer(model, /*l2=*/1e-4, options, torch::kCPU);
    EXPECT_TRUE(trainer.finite(0));
    torch::NoGradGuard no_grad;
    first_linear(model)->weight.view(-1)[37] = bad;  // a weight past the first vector of 16
    EXPECT_FALSE(trainer.finite(0)) << bad;
  }
}

TEST(Training, TinyModelLearnsATinyTask) {
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path(), {/*train=*/90, /*test=*/30});
  const Datasets data = load_datasets({dir.path(), 30, std::nullopt});
  at::Generator generator = make_cpu_generator(0);
  auto model = make_model(data.input_features(), 16, data.num_classes, generator);
  TrainOptions options;
  options.learning_rate = 0.01;
  options.batch_size = 8;
  Trainer trainer(model, /*l2=*/1e-4, options, torch::kCPU);
  const EvalMetrics before = trainer.evaluate(data.val)[0];
  TrainMetrics last;
  for (int epoch = 0; epoch < 20; ++epoch) last = trainer.train_epoch(data.train)[0];
  const EvalMetrics after = trainer.evaluate(data.test)[0];
  EXPECT_GT(last.accuracy, 0.95);
  EXPECT_GT(after.accuracy, 0.95);
  EXPECT_LT(after.data_loss, before.data_loss / 4);
}

}  // namespace
}  // namespace l2sweep

namespace l2sweep {
namespace {

TEST(EpochRecord, TakesEachMetricFromWhatTheEpochMeasured) {
  EpochMeasurements measured;
  measured.train = {1.5, 1.25, 0.75};  // loss, data_loss, accuracy
  measured.val.loss = 2.5;
  measured.val.data_loss = 2.25;
  measured.val.penalty = 0.25;
  measured.val.accuracy = 0.625;
  measured.val.dead_units = 0.125;
  measured.weights.norm = 7;
  measured.weights.small = 0.0625;
  measured.weights.zero = 0.03125;
  measured.weights.histogram.num = 100352;
  measured.seconds = 3.5;
  const EpochMetrics m = epoch_record(4, measured);
  EXPECT_EQ(m.epoch, 4);
  EXPECT_EQ(m.loss, 1.5);
  EXPECT_EQ(m.data_loss, 1.25);
  EXPECT_EQ(m.accuracy, 0.75);
  EXPECT_EQ(m.val_loss, 2.5);
  EXPECT_EQ(m.val_data_loss, 2.25);
  EXPECT_EQ(m.penalty, 0.25);
  EXPECT_EQ(m.val_accuracy, 0.625);
  EXPECT_EQ(m.dead_units, 0.125);
  EXPECT_EQ(m.w1_norm, 7);
  EXPECT_EQ(m.w1_small, 0.0625);
  EXPECT_EQ(m.w1_zero, 0.03125);
  EXPECT_EQ(m.epoch_seconds, 3.5);
  EXPECT_EQ(m.w1_histogram.num, 100352);
}

TEST(EpochRecord, EveryMetricHasOneNameItsDocAndATagWhereItIsLogged) {
  std::set<std::string> names;
  std::set<std::pair<std::string, std::string>> tags;
  for (const EpochMetricField& field : kEpochMetricFields) {
    EXPECT_TRUE(names.insert(field.name).second) << field.name << " twice";
    EXPECT_NE(field.measured, nullptr) << field.name;
    ASSERT_NE(field.doc, nullptr) << field.name;
    EXPECT_GT(std::string(field.doc).size(), 10u) << field.name;
    EXPECT_EQ(field.tensorboard_writer == nullptr, field.tensorboard_tag == nullptr) << field.name;
    if (field.tensorboard_writer != nullptr) {
      EXPECT_TRUE(tags.insert({field.tensorboard_writer, field.tensorboard_tag}).second)
          << field.name << ": its TensorBoard tag is another metric's";
    }
  }
}

}  // namespace
}  // namespace l2sweep
