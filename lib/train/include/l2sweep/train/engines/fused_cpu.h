#pragma once

#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "l2sweep/train/engine.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// The fused CPU engine: a cohort of the seed's network (Flatten -> Linear -> ReLU -> Linear)
/// trained as one stacked step. Every member sees the same batch, so the batch is gathered and
/// converted once; each member's first-layer products are made in two pieces over halves of
/// its hidden units (each piece its units' rows of the hidden layer and of W1's gradient, one
/// contiguous block of W1 and of Adam's moments); its second layer, softmax cross-entropy and
/// their gradients in one piece; and Adam updates each piece of W1 right after its gradient is
/// computed, while that gradient is still in cache, each W1 with its own L2 strength, the penalty's
/// value (for the reported loss) and gradient 2 * l2 * W1 folded into that pass. A step is a list
/// of tasks (a member's piece or its head) that TrainOptions::threads threads take in order, each
/// waiting only for the tasks it reads; the threads run up to kStepsPerRun steps of an epoch as one
/// list, so that none waits for the others at each step's end. The first layer's products are the
/// engine's own register tiles on a CPU with AVX-512 (fused/tiles.h), else the BLAS's; the second
/// layer's go through the BLAS (directly, without LibTorch's per-call dispatch, where the BLAS is
/// visible); the rest are single loops. The loss, the update and the reported metrics are those of
/// autograd with torch::optim::Adam up to float rounding (tests/fused_step_test.cpp). Members'
/// models are views of the engine's buffers, so evaluation and checkpoints see every update.
///
/// Bit for bit, a member's numbers do not depend on its cohort or the threads: every product is
/// made over the same fixed pieces of the member (a BLAS may round differently as a product's
/// shape changes, as OpenBLAS does for batches under 16 examples), every task computes the same
/// numbers in the same order on whichever thread runs it, and the sum of squares of W1 is taken
/// row by row over the fixed pieces.
class FusedCpuEngine : public Engine {
 public:
  FusedCpuEngine(std::vector<Member> members, const TrainOptions& options,
                 const torch::Device& device);
  ~FusedCpuEngine() override;

  std::vector<TrainMetrics> train_epoch(const Split& train, const torch::Tensor& order,
                                        const EpochControl& control) override;
  /// Every active member's metrics in one pass over the split: one stacked product per chunk
  /// of examples for the first layer of all members.
  std::vector<EvalMetrics> evaluate(const Split& split, const std::vector<bool>& active) override;
  bool finite(size_t member) const override;
  void save_state(size_t member, torch::serialize::OutputArchive& archive) const override;
  void load_state(size_t member, torch::serialize::InputArchive& archive) override;

  /// Adam steps taken so far (the same for every member).
  int64_t steps() const;

  /// The most steps the threads run as one list (of an epoch's full batches; the last, partial
  /// batch is a list of its own). An epoch reports progress (EpochControl::on_batch) and sees
  /// stop requests between lists.
  static constexpr int64_t kStepsPerRun = 64;

  /// The steps of one list for a cohort of `members` with batches of `batch` examples: about
  /// the work of kStepsPerRun steps of the seed's sweep (3 members, batches of 32, 784 inputs,
  /// 128 hidden units; tens of milliseconds), at least 1 and at most kStepsPerRun, so that a
  /// large cohort or batch still sees a stop request within about that time.
  static int64_t steps_per_run(int64_t members, int64_t batch, int64_t inputs, int64_t hidden);

  /// The pieces of equal work (halves of the hidden units, each its rows of W1) a member with
  /// `hidden` hidden units steps in; the step spreads every member's pieces over
  /// TrainOptions::threads threads.
  static int64_t pieces_per_member(int64_t hidden);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2sweep
