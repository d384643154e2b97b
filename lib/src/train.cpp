#include "l2sweep/train.h"

#include <fmt/format.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize/archive.h>
#include <torch/utils.h>

#include <algorithm>
#include <string>

#include "l2sweep/error.h"
#include "l2sweep/model.h"
#include "l2sweep/sweep.h"

namespace l2sweep {
namespace F = torch::nn::functional;

torch::optim::AdamOptions keras_adam_options(double learning_rate) {
  return torch::optim::AdamOptions(learning_rate)
      .betas(std::make_tuple(kAdamBeta1, kAdamBeta2))
      .eps(kAdamEpsilon);
}

torch::Tensor l2_penalty(const torch::Tensor& weight, double l2) {
  return weight.square().sum() * l2;
}

LossTerms regularized_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                           const torch::Tensor& w1, double l2) {
  LossTerms terms;
  terms.data_loss = F::cross_entropy(logits, labels);
  terms.penalty = l2_penalty(w1, l2);
  terms.loss = terms.data_loss + terms.penalty;
  return terms;
}

void clear_gradients(torch::nn::Module& module) {
  for (auto& parameter : module.parameters()) {
    parameter.mutable_grad() = torch::Tensor();
  }
}

Trainer::Trainer(torch::nn::Sequential model, const TrainOptions& options, torch::Device device)
    : model_(std::move(model)),
      w1_(first_linear(model_)->weight),
      options_(options),
      device_(device),
      optimizer_(model_->parameters(), keras_adam_options(options.learning_rate)),
      shuffle_generator_(make_cpu_generator(options.shuffle_seed)) {
  if (options.engine == StepEngine::kFusedCpu) {
    TORCH_CHECK(device.is_cpu(), "the fused step runs on the CPU only");
    fused_ = std::make_unique<FusedCpuStep>(model_, options.l2, options.learning_rate,
                                            options.batch_size);
  } else if (options.engine == StepEngine::kDevice) {
    device_step_ =
        std::make_unique<DeviceStep>(model_, options.l2, options.learning_rate, options.batch_size);
  }
  TORCH_CHECK(!options.cuda_graph || (device_step_ && device.is_cuda()),
              "a CUDA graph needs the device engine on a CUDA device");
}

TrainMetrics Trainer::train_epoch(const Split& train, const BatchCallback& on_batch) {
  model_->train();
  const int64_t examples = train.size();
  const int64_t batches = (examples + options_.batch_size - 1) / options_.batch_size;
  // Drawn on the CPU so that CPU and CUDA runs see the same batches.
  const torch::Tensor cpu_order = torch::randperm(examples, shuffle_generator_, torch::kInt64);
  if (device_step_) return train_epoch_on_device(train, cpu_order, on_batch);
  const torch::Tensor order = cpu_order.to(device_);

  MeanMeter loss;
  MeanMeter data_loss;
  MeanMeter accuracy;
  for (int64_t batch = 0; batch < batches; ++batch) {
    if (stop_requested()) throw StopRequested();
    const int64_t begin = batch * options_.batch_size;
    const int64_t count = std::min(options_.batch_size, examples - begin);
    const torch::Tensor indices = order.slice(0, begin, begin + count);
    if (fused_) {
      const StepResult step = fused_->step(train.images, train.labels, indices);
      loss.add_sum(step.loss * static_cast<double>(count), count);
      data_loss.add_sum(step.data_loss * static_cast<double>(count), count);
      accuracy.add_sum(static_cast<double>(step.correct), count);
      if (on_batch) on_batch(batch + 1, batches);
      continue;
    }
    const torch::Tensor labels = train.labels.index_select(0, indices);
    const torch::Tensor logits = model_->forward(train.images.index_select(0, indices));
    const LossTerms terms = regularized_loss(logits, labels, w1_, options_.l2);

    // Keras measures each batch before its own update.
    loss.add_mean(terms.loss, count);
    data_loss.add_mean(terms.data_loss, count);
    accuracy.add_sum(logits.detach().argmax(1).eq(labels).sum(), count);

    clear_gradients(*model_);
    terms.loss.backward();
    optimizer_.step();
    if (on_batch) {
      on_batch(batch + 1, batches);
    }
  }
  return {loss.value(), data_loss.value(), accuracy.value()};
}

void Trainer::capture_graphs() {
  const int64_t full = device_step_->full_batches();
  const int64_t per_replay = std::min(kStepsPerGraph, full);
  try {
    graph_ = std::make_unique<StepGraph>(*device_step_, per_replay);
    if (full % per_replay > 0) {
      rest_graph_ = std::make_unique<StepGraph>(*device_step_, full % per_replay);
    }
  } catch (const std::exception& e) {
    // Slower but the same numbers: a capture executes nothing, so the state is intact.
    graph_.reset();
    rest_graph_.reset();
    graph_failed_ = true;
    const std::string what = e.what();
    fmt::print(stderr,
               "l2sweep: warning: the training step could not be captured as a CUDA graph ({}); "
               "this run continues without it\n",
               what.substr(0, what.find('\n')));
  }
}

TrainMetrics Trainer::train_epoch_on_device(const Split& train, const torch::Tensor& order,
                                            const BatchCallback& on_batch) {
  device_step_->begin_epoch(train, order);
  const int64_t full = device_step_->full_batches();
  if (options_.cuda_graph && !graph_ && !graph_failed_ && full > 0) capture_graphs();
  const int64_t batches = full + (device_step_->has_tail() ? 1 : 0);
  // Nothing is read back to the host until the epoch's means: the launches run ahead.
  int64_t done = 0;
  while (done < batches) {
    if (stop_requested()) throw StopRequested();
    if (done == full) {
      device_step_->step_tail();
      done += 1;
    } else if (graph_ && full - done >= graph_->steps()) {
      graph_->replay();
      done += graph_->steps();
    } else if (rest_graph_) {
      rest_graph_->replay();
      done += rest_graph_->steps();
    } else {
      device_step_->step_full_batch();
      done += 1;
    }
    if (on_batch) on_batch(done, batches);
  }
  const DeviceStep::Means means = device_step_->epoch_means();
  return {means.loss, means.data_loss, means.accuracy};
}

EvalMetrics Trainer::evaluate(const Split& split) {
  torch::NoGradGuard no_grad;
  model_->eval();
  MeanMeter data_loss;
  MeanMeter accuracy;
  const int64_t examples = split.size();
  for (int64_t begin = 0; begin < examples; begin += kEvalBatchSize) {
    const int64_t end = std::min(examples, begin + kEvalBatchSize);
    const torch::Tensor labels = split.labels.slice(0, begin, end);
    const torch::Tensor logits = model_->forward(split.images.slice(0, begin, end));
    data_loss.add_sum(
        F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)),
        end - begin);
    accuracy.add_sum(logits.argmax(1).eq(labels).sum(), end - begin);
  }
  model_->train();
  EvalMetrics metrics;
  metrics.data_loss = data_loss.value();
  metrics.accuracy = accuracy.value();
  metrics.penalty = l2_penalty(w1_, options_.l2).item<double>();
  metrics.loss = metrics.data_loss + metrics.penalty;
  return metrics;
}

void Trainer::save_state(torch::serialize::OutputArchive& archive) const {
  for (const auto& item : model_->named_parameters()) {
    archive.write("model." + item.key(), item.value().detach().to(torch::kCPU));
  }
  archive.write("shuffle_generator", shuffle_generator_.get_state());
  // Each engine keeps Adam's state in its own form; a resume must use the same one.
  archive.write("engine", c10::IValue(std::string(to_string(options_.engine))));
  if (fused_) {
    fused_->save_state(archive);
  } else if (device_step_) {
    device_step_->save_state(archive);
  } else {
    torch::serialize::OutputArchive optimizer;
    optimizer_.save(optimizer);
    archive.write("optimizer", optimizer);
  }
}

void Trainer::load_state(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  c10::IValue engine;
  if (archive.try_read("engine", engine) && engine.toStringRef() != to_string(options_.engine)) {
    // On another device, --engine auto picks another engine (fused on the CPU, device on CUDA).
    throw usage_error(
        "trained with --engine {}, but this command would continue it with --engine {}; resume "
        "with the --engine and --device the sweep started with",
        engine.toStringRef(), to_string(options_.engine));
  }
  for (auto& item : model_->named_parameters()) {
    torch::Tensor saved;
    archive.read("model." + item.key(), saved);
    TORCH_CHECK(saved.sizes() == item.value().sizes(), "parameter ", item.key(),
                " has the wrong shape");
    item.value().copy_(saved);
  }
  torch::Tensor generator_state;
  archive.read("shuffle_generator", generator_state);
  shuffle_generator_.set_state(generator_state);
  if (fused_) {
    fused_->load_state(archive);
  } else if (device_step_) {
    device_step_->load_state(archive);
  } else {
    torch::serialize::InputArchive optimizer;
    archive.read("optimizer", optimizer);
    optimizer_.load(optimizer);
  }
}

double Trainer::w1_norm() const {
  torch::NoGradGuard no_grad;
  return w1_.norm().item<double>();
}

}  // namespace l2sweep
