#include "l2sweep/train/engines/fused_cpu.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>

#include "blas.h"
#include "kernels.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/dropout.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"
#include "profile.h"
#include "team.h"
#include "tiles.h"

namespace l2sweep {
namespace {

/// Each member's first-layer products are split over its hidden units, cut at a multiple of this
/// many: each piece makes its units' rows of the hidden layer and of W1's
/// gradient, and its rows of W1 and of Adam's moments are one contiguous block, updated in one
/// pass. Two pieces per member let two threads share a cohort of any size. (Pieces over the
/// inputs, column halves of W1, kept each product as tall as the member, which saves the BLAS
/// some packing, but made each thread's Adam walk 128 row segments of 1.5 KB per piece beside
/// the other thread's: 2.3 times as long, docs/architecture.md.) A BLAS
/// may round an element differently as a product's shape changes (OpenBLAS does for batches
/// under 16), so the pieces never change with the cohort: a member's numbers are the same alone
/// or among any others, on any number of threads.
constexpr int64_t kPieceAlignment = 8;
/// Examples per stacked product when evaluating. Each example's cross-entropy is added to its
/// member's sum in order, so the chunk size changes no number; small chunks keep the
/// buffers (every member's hidden layer for the chunk) small.
constexpr int64_t kEvalChunk = 1024;
/// Floats between the end of one row of an evaluated chunk's transpose and the next (one cache
/// line).
constexpr int64_t kEvalRowPadding = 16;

// The step's products (fused/blas.cpp) and loops (fused/kernels.cpp, and inline in
// fused/kernels.h).
using fused::adam_kernel;
using fused::AdamCoefficients;
using fused::apply_dropout;
using fused::gather_rows;
using fused::gather_transposed;
using fused::gemm;
using fused::keras_adam_kernel;
using fused::mask_by_dropout_relu;
using fused::mask_by_relu;
using fused::Part;
using fused::PartTimer;
using fused::softmax_cross_entropy_batch;
using fused::sparse_product;
using fused::StepProfile;
using fused::sum_rows;
using fused::Team;
using fused::tile_product;
using fused::tile_products;
using fused::transpose;
using fused::wait_until;

/// A member's `hidden` units in pieces (begin, count): two halves cut at a multiple of
/// kPieceAlignment, or one piece when there are too few units to cut.
std::vector<std::pair<int64_t, int64_t>> piece_layout(int64_t hidden) {
  const int64_t cut = hidden / 2 / kPieceAlignment * kPieceAlignment;
  if (cut == 0) return {{0, hidden}};
  return {{0, cut}, {cut, hidden - cut}};
}

/// A 64-byte aligned float buffer of `size` (c10's allocator): every operand the BLAS sees is
/// aligned (blas.cpp copies any other, at a cost).
torch::Tensor aligned_floats(int64_t size) {
  return torch::empty({size}, torch::TensorOptions().dtype(torch::kFloat32));
}

/// How far a job's tasks have got, counted from the job's start: each task waits only on
/// counters of tasks earlier in the job's list.
struct Progress {
  std::atomic<int64_t> next{0};         ///< the next task to take (evaluation; a step assigns them)
  std::atomic<int64_t> gathered{0};     ///< parts of batches gathered
  std::atomic<int64_t> backward{0};     ///< W1 pieces updated, every member's
  std::atomic<int64_t> heads_taken{0};  ///< heads a thread has taken, every step's
  std::unique_ptr<std::atomic<int64_t>[]> forward, heads;  ///< per member
  std::atomic<bool> failed{false};
  int64_t members = 0;

  explicit Progress(int64_t count)
      : forward(new std::atomic<int64_t>[static_cast<size_t>(count)]),
        heads(new std::atomic<int64_t>[static_cast<size_t>(count)]),
        members(count) {}
  void reset() {
    next = 0;
    gathered = 0;
    backward = 0;
    heads_taken = 0;
    failed = false;
    for (int64_t r = 0; r < members; ++r) forward[r] = heads[r] = 0;
  }
};

}  // namespace

struct FusedCpuEngine::Impl {
  /// The step's buffers for a batch of `n` examples.
  struct Buffers {
    /// [n, inputs]: the batch's pixels, two batches' (a step's and the next's, gathered while
    /// the step's backward pass runs)
    std::array<torch::Tensor, 2> x;
    std::array<torch::Tensor, 2> x_t;  ///< [inputs, n]: the same, transposed (for tile_product)
    torch::Tensor hidden_t;    ///< [members * hidden, n]: every member's hidden layer, transposed
    torch::Tensor logits_t;    ///< [members, classes, n]
    torch::Tensor d_logits;    ///< [members, n, classes]: d(mean cross-entropy)/d(logits)
    torch::Tensor d_hidden_t;  ///< [members * hidden, n]
    torch::Tensor d_logits_t;  ///< [members, classes, n]: d_logits transposed (with tiles)
  };
  /// Hidden units [begin, begin + count): their rows of W1 and of the hidden layer.
  struct Piece {
    int64_t begin, count;
  };

  int64_t members = 0, hidden = 0, inputs = 0, classes = 0;
  /// The step's products by tile_product and sparse_product rather than the BLAS
  /// (tile_products(), and pieces of whole multiples of kPieceAlignment units).
  bool tiles = false;
  std::vector<double> l2, dropout, weight_decay;
  double learning_rate = 0;
  bool keras_adam = false;  ///< Keras' update rather than torch::optim::Adam's
  int64_t step = 0;
  /// Parameters, gradients and Adam's moments, each one flat buffer laid out as every
  /// member's W1 ([members * hidden, inputs], member after member), then b1, W2 and b2.
  torch::Tensor params, grads, exp_avg, exp_avg_sq;
  torch::Tensor w1, b1, w2, b2, grad_w1, grad_b1, grad_w2, grad_b2;
  /// Each member's hidden units in pieces (piece_layout).
  std::vector<Piece> pieces;
  /// Each step's numbers in a run, step after step, member by member: the sum of squares of
  /// each piece of W1 before the step's update, the batch's summed cross-entropy and its
  /// correct predictions.
  std::vector<double> step_squares, step_cross_entropy;
  std::vector<int64_t> step_correct;
  std::map<int64_t, Buffers> buffers;  ///< by batch size: the full batch and the epoch's tail
  /// Each thread's piece of dW1: computed, then used by Adam while still in cache.
  std::vector<torch::Tensor> gradient_scratch;
  /// Each thread's W2^T and dW2^T ([hidden, classes] each) for the second layer's tile products.
  std::vector<torch::Tensor> head_scratch;
  /// The threads a step spreads over (TrainOptions::threads), and their progress in a job.
  std::unique_ptr<Team> team;
  std::unique_ptr<Progress> progress;
  StepProfile profile;

  Impl(const std::vector<Member>& cohort, const TrainOptions& options)
      : learning_rate(options.learning_rate),
        keras_adam(options.adam == AdamVariant::kKeras),
        profile(static_cast<int64_t>(cohort.size()), std::max<int64_t>(1, options.threads)) {
    const auto first = first_linear(cohort.front().model);
    const auto second = second_linear(cohort.front().model);
    members = static_cast<int64_t>(cohort.size());
    hidden = first->weight.size(0);
    inputs = first->weight.size(1);
    classes = second->weight.size(0);
    tiles = tile_products() && hidden % 8 == 0;
    const int64_t w1_size = members * hidden * inputs;
    const int64_t total = w1_size + members * (hidden + classes * hidden + classes);
    const auto options_f = torch::TensorOptions().dtype(torch::kFloat32);
    params = torch::empty({total}, options_f);
    grads = torch::zeros({total}, options_f);
    exp_avg = torch::zeros({total}, options_f);
    exp_avg_sq = torch::zeros({total}, options_f);
    int64_t offset = 0;
    const auto take = [&](torch::Tensor& view, torch::Tensor& gradient,
                          std::vector<int64_t> shape) {
      int64_t size = 1;
      for (const int64_t d : shape) size *= d;
      view = params.narrow(0, offset, size).view(shape);
      gradient = grads.narrow(0, offset, size).view(shape);
      offset += size;
    };
    take(w1, grad_w1, {members * hidden, inputs});
    take(b1, grad_b1, {members * hidden});
    take(w2, grad_w2, {members, classes, hidden});
    take(b2, grad_b2, {members, classes});
    for (const Member& member : cohort) {
      l2.push_back(member.l2);
      dropout.push_back(member.dropout);
      weight_decay.push_back(member.weight_decay);
    }
    for (const auto& [begin, count] : piece_layout(hidden)) pieces.push_back({begin, count});
    step_squares.assign(static_cast<size_t>(kStepsPerRun * members) * pieces.size(), 0.0);
    step_cross_entropy.assign(static_cast<size_t>(kStepsPerRun * members), 0.0);
    step_correct.assign(static_cast<size_t>(kStepsPerRun * members), 0);
    team = std::make_unique<Team>(std::max<int64_t>(1, options.threads));
    int64_t widest = 0;
    for (const Piece& piece : pieces) widest = std::max(widest, piece.count);
    for (int64_t w = 0; w < team->size(); ++w) {
      gradient_scratch.push_back(aligned_floats(widest * inputs));
      head_scratch.push_back(aligned_floats(2 * hidden * classes));
    }
    progress = std::make_unique<Progress>(members);
  }

  int64_t piece_count() const { return static_cast<int64_t>(pieces.size()); }

  /// Member r's slice of a [members, ...] float tensor: a pointer, where t[r] would build a
  /// view (a heap allocation and autograd metadata) in every step's hot path.
  static float* slice(const torch::Tensor& t, int64_t r) {
    return t.data_ptr<float>() + r * t.stride(0);
  }

  /// Member `r`'s parameters as views of the flat buffer: the four tensors of its model.
  std::vector<torch::Tensor> member_views(int64_t r, bool gradients = false) const {
    const torch::Tensor& a = gradients ? grad_w1 : w1;
    const torch::Tensor& b = gradients ? grad_b1 : b1;
    const torch::Tensor& c = gradients ? grad_w2 : w2;
    const torch::Tensor& d = gradients ? grad_b2 : b2;
    return {a.narrow(0, r * hidden, hidden), b.narrow(0, r * hidden, hidden), c[r], d[r]};
  }

  Buffers& buffers_for(int64_t n) {
    auto found = buffers.find(n);
    if (found != buffers.end()) return found->second;
    const auto f = torch::TensorOptions().dtype(torch::kFloat32);
    const auto x = [&] { return torch::empty({n, inputs}, f); };
    const auto x_t = [&] { return torch::empty({tiles ? inputs : 1, n}, f); };
    Buffers b{{x(), x()},
              {x_t(), x_t()},
              torch::empty({members * hidden, n}, f),
              torch::empty({members, classes, n}, f),
              torch::empty({members, n, classes}, f),
              torch::empty({members * hidden, n}, f),
              torch::empty({tiles ? members : 1, classes, n}, f)};
    return buffers.emplace(n, std::move(b)).first->second;
  }

  /// Gathers examples [begin, end) of a batch into `x` (unless it is null: evaluation with tile
  /// products reads only `x_t`) and, with tile products, into `x_t`, whose rows are `stride`
  /// floats apart.
  void gather(const torch::Tensor& images, const int64_t* rows, int64_t begin, int64_t end,
              int64_t stride, float* x, float* x_t) const {
    if (tiles && images.scalar_type() == torch::kUInt8) {
      gather_transposed(images.data_ptr<uint8_t>(), rows, begin, end, inputs, x, x_t, stride);
      return;
    }
    gather_rows(images, rows, begin, end, inputs, x);
    if (tiles) transpose(x + begin * inputs, end - begin, inputs, x_t + begin, stride);
  }

  /// Piece `p` of member r's first-layer product for the `n` examples in `x` (`x_t`
  /// transposed, its rows `stride` floats apart): W1[piece, :] x^T into the piece's rows of
  /// member r's hidden layer in `out` ([members * hidden, n]).
  void forward_piece(int64_t r, int64_t p, const float* x, const float* x_t, int64_t stride,
                     float* out, int64_t n, int64_t worker, StepProfile* timing) {
    const Piece& piece = pieces[static_cast<size_t>(p)];
    const PartTimer timer(timing, worker, Part::kProducts);
    const int64_t row = r * hidden + piece.begin;
    const float* w = w1.data_ptr<float>() + row * inputs;
    if (tiles) {
      tile_product(piece.count, n, inputs, w, inputs, x_t, stride, out + row * n, n);
    } else {
      gemm(false, true, piece.count, n, inputs, w, inputs, x, inputs, out + row * n, n);
    }
  }

  /// Member r's hidden layer from its pieces' products: relu(product + b1), in place in
  /// `hidden_t`.
  void hidden_layer(int64_t r, float* hidden_t, int64_t n, int64_t worker, StepProfile* timing) {
    const PartTimer timer(timing, worker, Part::kElementwise);
    const float* bias = b1.data_ptr<float>() + r * hidden;
    float* h = hidden_t + r * hidden * n;
    for (int64_t k = 0; k < hidden; ++k) {
      const float b = bias[k];
      float* row = h + k * n;
      for (int64_t e = 0; e < n; ++e) row[e] = std::max(row[e] + b, 0.0f);
    }
  }

  /// Member r's hidden layer, second layer, loss, and the backward pass as far as it needs all
  /// of the member's hidden units: dW2, db2, d hidden^T = (W2^T dz^T) * (hidden > 0) and db1;
  /// then Adam on b1, W2 and b2, which nothing reads any more in this step.
  /// Its results go to slot `slot` (step * members + r) of the run's step_* vectors.
  void member_head(Buffers& b, const int64_t* labels, const int64_t* rows, int64_t n, int64_t r,
                   const float* noise, const AdamCoefficients& c, int64_t worker, size_t slot) {
    hidden_layer(r, b.hidden_t.data_ptr<float>(), n, worker, &profile);
    float* hidden_t = b.hidden_t.data_ptr<float>() + r * hidden * n;  // [hidden, n]
    const double rate = dropout[static_cast<size_t>(r)];
    if (rate > 0) {
      const PartTimer timer(&profile, worker, Part::kElementwise);
      apply_dropout(hidden_t, noise, hidden, hidden, n, static_cast<float>(rate),
                    dropout_scale(rate));
    }
    float* z = slice(b.logits_t, r);  // [classes, n]
    {
      const PartTimer timer(&profile, worker, Part::kProducts);
      if (tiles) {
        // Each logit one chain over the hidden units, in order.
        tile_product(classes, n, hidden, slice(w2, r), hidden, hidden_t, n, z, n);
      } else {
        gemm(false, false, classes, n, hidden, slice(w2, r), hidden, hidden_t, n, z, n);
      }
    }
    float* dz = slice(b.d_logits, r);  // [n, classes]
    {
      const PartTimer timer(&profile, worker, Part::kLoss);
      const float* bias = slice(b2, r);
      for (int64_t k = 0; k < classes; ++k) {
        for (int64_t i = 0; i < n; ++i) z[k * n + i] += bias[k];
      }
      const float scale = 1.0f / static_cast<float>(n);
      double sum = 0;
      int64_t right = 0;
      softmax_cross_entropy_batch(
          z, n, classes, [&](int64_t i) { return labels[rows[i]]; }, scale, dz, sum, right);
      step_cross_entropy[slot] = sum;
      step_correct[slot] = right;
    }
    float* dh = b.d_hidden_t.data_ptr<float>() + r * hidden * n;  // [hidden, n]
    {
      const PartTimer timer(&profile, worker, Part::kProducts);
      if (tiles) {
        // Each element one chain over the batch (dW2) or the classes (d hidden), in order:
        // dW2^T [hidden, classes] = hidden^T [hidden, n] dz [n, classes] (ten columns: a
        // tile's rows share each load of dz, where sparse_product would load it per term);
        // d hidden^T [hidden, n] = W2^T [hidden, classes] dz^T [classes, n].
        float* w2_t = head_scratch[static_cast<size_t>(worker)].data_ptr<float>();
        float* grad_w2_t = w2_t + hidden * classes;
        float* dz_t = slice(b.d_logits_t, r);
        tile_product(hidden, classes, n, hidden_t, n, dz, classes, grad_w2_t, classes);
        transpose(grad_w2_t, hidden, classes, slice(grad_w2, r), hidden);
        transpose(slice(w2, r), classes, hidden, w2_t, classes);
        transpose(dz, n, classes, dz_t, n);
        tile_product(hidden, n, classes, w2_t, classes, dz_t, n, dh, n);
      } else {
        // dW2[classes, hidden] = dz^T [classes, n] hidden [n, hidden]
        gemm(true, true, classes, hidden, n, dz, classes, hidden_t, n, slice(grad_w2, r), hidden);
        // d hidden^T [hidden, n] = W2^T [hidden, classes] dz^T [classes, n]
        gemm(true, true, hidden, n, classes, slice(w2, r), hidden, dz, classes, dh, n);
      }
    }
    {
      const PartTimer timer(&profile, worker, Part::kElementwise);
      float* db2 = slice(grad_b2, r);
      std::fill(db2, db2 + classes, 0.0f);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t k = 0; k < classes; ++k) db2[k] += dz[i * classes + k];
      }
      if (rate > 0) {
        mask_by_dropout_relu(dh, hidden_t, hidden * n, dropout_scale(rate));
      } else {
        mask_by_relu(dh, hidden_t, hidden * n);
      }
      sum_rows(dh, hidden, n, grad_b1.data_ptr<float>() + r * hidden);
    }
    const PartTimer timer(&profile, worker, Part::kAdam);
    const float* base = params.data_ptr<float>();
    update(b1.data_ptr<float>() - base + r * hidden, hidden, c, nullptr);
    update(slice(w2, r) - base, classes * hidden, c, nullptr);
    update(slice(b2, r) - base, classes, c, nullptr);
  }

  /// Piece `p` of member r's W1 gradient, dW1[piece, :] = d hidden[piece]^T x, into this
  /// thread's scratch, and Adam on those weights while the gradient is still in cache (the sum
  /// of squares of the weights taken before the update): no gradient buffer the size of every
  /// W1 streams through memory. The piece's rows of W1 and of the moments are one block, which
  /// Adam passes row after row (each row's sum of squares added in double).
  /// The sum of squares goes to step_squares[slot * pieces + p] (slot: step * members + r).
  void backward_piece(Buffers& b, const float* x, int64_t n, int64_t r, int64_t p,
                      const AdamCoefficients& c, int64_t worker, size_t slot) {
    float* scratch = gradient_scratch[static_cast<size_t>(worker)].data_ptr<float>();
    const Piece& piece = pieces[static_cast<size_t>(p)];
    const int64_t first_row = r * hidden + piece.begin;
    {
      const PartTimer timer(&profile, worker, Part::kProducts);
      const float* dh = b.d_hidden_t.data_ptr<float>() + first_row * n;
      if (tiles) {
        sparse_product(piece.count, inputs, n, dh, n, x, inputs, scratch, inputs);
      } else {
        gemm(false, false, piece.count, inputs, n, dh, n, x, inputs, scratch, inputs);
      }
    }
    const PartTimer timer(&profile, worker, Part::kAdam);
    AdamCoefficients decayed = c;
    const auto member = static_cast<size_t>(r);
    decayed.decay = static_cast<float>(2 * l2[member]);
    decayed.shrink = static_cast<float>(1 - learning_rate * weight_decay[member]);
    decayed.keras_decay = static_cast<float>(weight_decay[member]);
    double squares = 0;
    for (int64_t k = 0; k < piece.count; ++k) {
      const int64_t offset = (first_row + k) * inputs;
      double row = 0;
      adam(params.data_ptr<float>() + offset, exp_avg.data_ptr<float>() + offset,
           exp_avg_sq.data_ptr<float>() + offset, scratch + k * inputs, inputs, decayed, &row);
      squares += row;
    }
    step_squares[slot * pieces.size() + static_cast<size_t>(p)] = squares;
  }

  /// Adam on `size` elements of the flat buffers from `offset`.
  void update(int64_t offset, int64_t size, const AdamCoefficients& c, double* squares) {
    adam(params.data_ptr<float>() + offset, exp_avg.data_ptr<float>() + offset,
         exp_avg_sq.data_ptr<float>() + offset, grads.data_ptr<float>() + offset, size, c, squares);
  }

  /// The update the cohort trains with, torch's or Keras'.
  void adam(float* param, float* m, float* v, const float* gradient, int64_t size,
            const AdamCoefficients& c, double* squares) const {
    if (keras_adam) {
      keras_adam_kernel(param, m, v, gradient, size, c, squares);
    } else {
      adam_kernel(param, m, v, gradient, size, c, squares);
    }
  }

  /// The update's coefficients at step `at` (1-based).
  AdamCoefficients coefficients(int64_t at) const {
    const auto t = static_cast<double>(at);
    AdamCoefficients c{};
    c.beta1 = static_cast<float>(kAdamBeta1);
    c.beta2 = static_cast<float>(kAdamBeta2);
    c.one_minus_beta1 = static_cast<float>(1 - kAdamBeta1);
    c.one_minus_beta2 = static_cast<float>(1 - kAdamBeta2);
    c.step_size = static_cast<float>(learning_rate / (1 - std::pow(kAdamBeta1, t)));
    c.inverse_sqrt_bias2 = static_cast<float>(1 / std::sqrt(1 - std::pow(kAdamBeta2, t)));
    c.eps = static_cast<float>(kAdamEpsilon);
    c.decay = 0.0f;
    c.keras_alpha = keras_adam_alpha(learning_rate, at);
    c.keras_lr = static_cast<float>(learning_rate);
    return c;
  }

  /// Waits until `counter` reaches `target`, counting the time as waiting.
  void wait(const std::atomic<int64_t>& counter, int64_t target, int64_t worker) {
    if (counter.load(std::memory_order_acquire) >= target) return;
    const PartTimer timer(&profile, worker, Part::kWaiting);
    wait_until(counter, target, progress->failed);
  }

  /// Worker `worker`'s share of `count` steps on batches of `n` examples (step j's rows from
  /// rows + j * n, its dropout noise from noise + j * n * hidden), a list of tasks, step after
  /// step: each member's forward pieces, each member's head (with b1, W2 and b2's Adam), the
  /// next batch gathered (in one part per thread, into the other of the two batch buffers), and
  /// each member's W1 pieces' gradient and Adam; the first batch gathered before all. Each task
  /// waits for the ones it reads, and a gather for the last readers of its buffer (the pieces'
  /// gradients two steps before). Which thread runs a task changes no number: every task
  /// computes the same thing in the same order wherever it runs.
  void step_tasks(int64_t worker, Buffers& b, const torch::Tensor& images, const int64_t* labels,
                  const int64_t* rows, int64_t n, int64_t count, const float* noise,
                  const std::vector<AdamCoefficients>& c) {
    torch::NoGradGuard no_grad;
    Progress& p = *progress;
    const int64_t parts = team->size();
    const int64_t per_member = piece_count();
    // Which thread runs what: a member's piece always on the same thread, forward and backward,
    // so that its share of W1 and of Adam's moments stays in that core's cache from step to
    // step (taken by whichever thread was free, they moved between the cores every step: twice
    // the time on the development VM), and so that a piece's forward product of the next step
    // follows its update on its own thread; the heads rotate over the threads. Every thread
    // runs its tasks in the list's order and a task waits only on earlier ones, so the earliest
    // unfinished task can always run: no thread waits forever.
    const auto piece_owner = [&](int64_t r, int64_t piece) {
      return (r * per_member + piece) % parts;
    };
    const auto gather_batch = [&](int64_t j) {
      // Batch j's buffer was last read by step j - 2's backward pieces. And the count of parts
      // gathered tells that batch j is whole only if no part of it is counted before batch j - 1
      // is (a thread that owns no piece reaches the next gather early).
      if (j >= 2) wait(p.backward, (j - 1) * members * per_member, worker);
      if (j >= 1) wait(p.gathered, j * parts, worker);
      const PartTimer timer(&profile, worker, Part::kGather);
      const auto which = static_cast<size_t>(j % 2);
      Impl::gather(images, rows + j * n, n * worker / parts, n * (worker + 1) / parts, n,
                   b.x[which].data_ptr<float>(), b.x_t[which].data_ptr<float>());
      p.gathered.fetch_add(1, std::memory_order_acq_rel);
    };
    try {
      gather_batch(0);
      for (int64_t j = 0; j < count; ++j) {
        const auto which = static_cast<size_t>(j % 2);
        const size_t first_slot = static_cast<size_t>(j * members);
        for (int64_t r = 0; r < members; ++r) {
          for (int64_t piece = 0; piece < per_member; ++piece) {
            if (piece_owner(r, piece) != worker) continue;
            wait(p.gathered, (j + 1) * parts, worker);
            forward_piece(r, piece, b.x[which].data_ptr<float>(), b.x_t[which].data_ptr<float>(), n,
                          b.hidden_t.data_ptr<float>(), n, worker, &profile);
            p.forward[r].fetch_add(1, std::memory_order_acq_rel);
          }
        }
        // The heads, in member order, each to the first thread free for it: whichever thread
        // reaches them first (its pieces were lighter, or their inputs were in its cache) takes
        // more, instead of idling. Taking one needs every earlier head taken, so a thread here
        // sees only this step's heads.
        int64_t taken = p.heads_taken.load(std::memory_order_acquire);
        while (taken < (j + 1) * members) {
          if (!p.heads_taken.compare_exchange_weak(taken, taken + 1, std::memory_order_acq_rel)) {
            continue;  // `taken` is now the count another thread left
          }
          const int64_t r = taken - j * members;
          wait(p.forward[r], (j + 1) * per_member, worker);
          member_head(b, labels, rows + j * n, n, r,
                      noise != nullptr ? noise + j * n * hidden : nullptr,
                      c[static_cast<size_t>(j)], worker, first_slot + static_cast<size_t>(r));
          p.heads[r].store(j + 1, std::memory_order_release);
          taken = p.heads_taken.load(std::memory_order_acquire);
        }
        if (j + 1 < count) gather_batch(j + 1);
        for (int64_t r = 0; r < members; ++r) {
          for (int64_t piece = 0; piece < per_member; ++piece) {
            if (piece_owner(r, piece) != worker) continue;
            wait(p.heads[r], j + 1, worker);
            backward_piece(b, b.x[which].data_ptr<float>(), n, r, piece, c[static_cast<size_t>(j)],
                           worker, first_slot + static_cast<size_t>(r));
            p.backward.fetch_add(1, std::memory_order_acq_rel);
          }
        }
      }
    } catch (...) {
      p.failed = true;
      throw;
    }
  }

  /// `count` Adam steps of every member, at most kStepsPerRun (steps_per_run), as one job of
  /// the team: its
  /// threads go from one step to the next without meeting, each waiting only for the tasks it
  /// reads, so that one thread's slower step is made up in the next instead of idling the
  /// others at every step's end. On batches of `n` examples of
  /// `images`/`labels`: step j on the examples rows[j * n, (j + 1) * n), with the dropout noise
  /// from noise + j * n * hidden ([n, hidden] a step; null when no member has Dropout). Adds
  /// each member's batch loss, cross-entropy and accuracy (measured before the update) to
  /// `meters`, step after step.
  void steps_on(const torch::Tensor& images, const int64_t* labels, const int64_t* rows, int64_t n,
                int64_t count, const float* noise, std::vector<EpochMeters>& meters) {
    TORCH_CHECK(count >= 1 && count <= kStepsPerRun, "a run of ", count, " steps");
    for (const double rate : dropout) {
      // Before any member's update: a refused step changes nothing.
      TORCH_CHECK(rate <= 0 || noise != nullptr,
                  "a Dropout member trained without the epoch's noise");
    }
    Buffers& b = buffers_for(n);
    std::vector<AdamCoefficients> c;
    for (int64_t j = 1; j <= count; ++j) c.push_back(coefficients(step + j));
    progress->reset();
    team->run(
        [&](int64_t worker) { step_tasks(worker, b, images, labels, rows, n, count, noise, c); });
    step += count;
    const auto count_examples = static_cast<double>(n);
    for (int64_t j = 0; j < count; ++j) {
      profile.count_step(members);
      for (int64_t r = 0; r < members; ++r) {
        const auto slot = static_cast<size_t>(j * members + r);
        double squares = 0;
        for (size_t piece = 0; piece < pieces.size(); ++piece) {
          squares += step_squares[slot * pieces.size() + piece];
        }
        const double data_loss = step_cross_entropy[slot] / count_examples;
        const double loss = data_loss + l2[static_cast<size_t>(r)] * squares;
        EpochMeters& meter = meters[static_cast<size_t>(r)];
        meter.loss.add_sum(loss * count_examples, n);
        meter.data_loss.add_sum(data_loss * count_examples, n);
        meter.accuracy.add_sum(static_cast<double>(step_correct[slot]), n);
      }
    }
  }
};

FusedCpuEngine::FusedCpuEngine(std::vector<Member> members, const TrainOptions& options,
                               const torch::Device& device)
    : Engine(std::move(members), options, device) {
  TORCH_CHECK(device.is_cpu(), "the fused step runs on the CPU only");
  impl_ = std::make_unique<Impl>(members_, options);
  torch::NoGradGuard no_grad;
  for (size_t r = 0; r < members_.size(); ++r) {
    const auto first = first_linear(members_[r].model);
    const auto second = second_linear(members_[r].model);
    const std::vector<torch::Tensor> model{first->weight, first->bias, second->weight,
                                           second->bias};
    std::vector<torch::Tensor> views = impl_->member_views(static_cast<int64_t>(r));
    for (size_t i = 0; i < model.size(); ++i) {
      TORCH_CHECK(model[i].is_cpu() && model[i].scalar_type() == torch::kFloat32 &&
                      model[i].sizes() == views[i].sizes(),
                  "the fused step needs the cohort's float32 CPU models of one shape");
      views[i].copy_(model[i]);
      // The model's parameter now lives in the engine's buffer: forward passes, evaluation and
      // checkpoints see every update without a copy.
      model[i].set_data(views[i]);
    }
  }
}

FusedCpuEngine::~FusedCpuEngine() = default;

int64_t FusedCpuEngine::steps() const { return impl_->step; }

int64_t FusedCpuEngine::steps_per_run(int64_t members, int64_t batch, int64_t inputs,
                                      int64_t hidden) {
  constexpr double kWork = static_cast<double>(kStepsPerRun) * 3 * 32 * 784 * 128;
  const double step = static_cast<double>(std::max<int64_t>(1, members)) *
                      static_cast<double>(std::max<int64_t>(1, batch)) *
                      static_cast<double>(std::max<int64_t>(1, inputs)) *
                      static_cast<double>(std::max<int64_t>(1, hidden));
  return std::clamp<int64_t>(static_cast<int64_t>(kWork / step), 1, kStepsPerRun);
}

int64_t FusedCpuEngine::pieces_per_member(int64_t hidden) {
  return static_cast<int64_t>(piece_layout(hidden).size());
}

std::vector<TrainMetrics> FusedCpuEngine::train_epoch(const Split& train,
                                                      const torch::Tensor& order,
                                                      const EpochControl& control) {
  for (size_t r = 0; r < members_.size(); ++r) members_[r].model->train();
  const torch::Tensor images = train.images.reshape({train.size(), impl_->inputs}).contiguous();
  const torch::Tensor labels = train.labels.contiguous();
  const torch::Tensor rows = order.contiguous();
  const torch::Tensor noise_rows = control.dropout_noise.defined()
                                       ? control.dropout_noise.to(torch::kFloat32).contiguous()
                                       : torch::Tensor();
  TORCH_CHECK(!noise_rows.defined() ||
                  noise_rows.sizes() == torch::IntArrayRef({train.size(), impl_->hidden}),
              "the dropout noise has the wrong shape");
  const int64_t examples = train.size();
  const int64_t batch_size = options_.batch_size;
  const int64_t batches = (examples + batch_size - 1) / batch_size;
  const int64_t steps = batches * control.count_active(members_.size());
  const int64_t active = control.count_active(members_.size());
  std::vector<EpochMeters> meters(members_.size());
  const int64_t full_batches = examples / batch_size;
  const int64_t per_run = steps_per_run(static_cast<int64_t>(members_.size()), batch_size,
                                        impl_->inputs, impl_->hidden);
  for (int64_t batch = 0; batch < batches;) {
    if (control.stop.stop_requested()) throw StopRequested();
    const int64_t begin = batch * batch_size;
    const int64_t count = std::min(batch_size, examples - begin);
    // A run of full batches, or the epoch's last, partial one alone.
    const int64_t run = batch < full_batches ? std::min(per_run, full_batches - batch) : 1;
    const float* noise = control.dropout_noise.defined()
                             ? noise_rows.data_ptr<float>() + begin * impl_->hidden
                             : nullptr;
    impl_->steps_on(images, labels.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + begin, count,
                    run, noise, meters);
    batch += run;
    if (control.on_batch) control.on_batch(batch * active, steps);
  }
  std::vector<TrainMetrics> results(members_.size());
  for (size_t r = 0; r < members_.size(); ++r) {
    if (control.is_active(r)) results[r] = meters[r].value();
  }
  return results;
}

std::vector<EvalMetrics> FusedCpuEngine::evaluate(const Split& split,
                                                  const std::vector<bool>& active) {
  torch::NoGradGuard no_grad;
  Impl& impl = *impl_;
  const int64_t examples = split.size();
  const torch::Tensor images = split.images.reshape({examples, impl.inputs}).contiguous();
  const torch::Tensor labels = split.labels.contiguous();
  const int64_t* label = labels.data_ptr<int64_t>();
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t chunk = std::min(kEvalChunk, std::max<int64_t>(examples, 1));
  // The transposed chunk's rows a little more than a chunk apart: at exactly 1,024 floats (4 KiB)
  // the rows a tile reads fall in a few cache sets and the product ran from L3 at half speed.
  const int64_t stride = chunk + kEvalRowPadding;
  // With tile products from bytes, only the transposed chunk is read.
  const bool transposed_only = impl.tiles && images.scalar_type() == torch::kUInt8;
  torch::Tensor x = torch::empty({transposed_only ? 1 : chunk, impl.inputs}, f);
  torch::Tensor x_t = torch::empty({impl.tiles ? impl.inputs : 1, stride}, f);
  torch::Tensor hidden_t = torch::empty({impl.members * impl.hidden, chunk}, f);
  // Each member's logits in a buffer of its own: a member's place in a stacked buffer would
  // give its product another alignment in another cohort (see gemm).
  std::vector<torch::Tensor> logits_t;
  for (int64_t r = 0; r < impl.members; ++r)
    logits_t.push_back(torch::empty({impl.classes, chunk}, f));
  std::vector<int64_t> rows(static_cast<size_t>(chunk));
  std::vector<double> cross_entropy(members_.size(), 0.0);
  std::vector<int64_t> correct(members_.size(), 0);
  // Per member and hidden unit: whether its ReLU was positive on any example.
  std::vector<uint8_t> fired(static_cast<size_t>(impl.members * impl.hidden), 0);
  const int64_t per_member = impl.piece_count();
  Progress& p = *impl.progress;
  for (int64_t begin = 0; begin < examples; begin += chunk) {
    const int64_t n = std::min(chunk, examples - begin);
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = begin + i;
    torch::Tensor xs = transposed_only ? x : x.narrow(0, 0, n);
    torch::Tensor hs = n == chunk ? hidden_t : torch::empty({impl.members * impl.hidden, n}, f);
    // The chunk's tasks: the chunk gathered in one part per thread, each member's forward
    // pieces, then each member's hidden layer, second layer and cross-entropy, added to its
    // sum example by example in order (so the chunk size and the threads change no number).
    const auto member_pass = [&](int64_t r, int64_t worker) {
      const auto member = static_cast<size_t>(r);
      impl.hidden_layer(r, hs.data_ptr<float>(), n, worker, nullptr);
      const float* h = hs.data_ptr<float>() + r * impl.hidden * n;
      for (int64_t k = 0; k < impl.hidden; ++k) {
        uint8_t& unit = fired[static_cast<size_t>(r * impl.hidden + k)];
        for (int64_t e = 0; e < n && unit == 0; ++e) unit = h[k * n + e] > 0.0f ? 1 : 0;
      }
      torch::Tensor z_t = n == chunk ? logits_t[member] : torch::empty({impl.classes, n}, f);
      at::addmm_out(z_t, impl.b2[r].unsqueeze(1), impl.w2[r],
                    hs.narrow(0, r * impl.hidden, impl.hidden));
      softmax_cross_entropy_batch(
          z_t.data_ptr<float>(), n, impl.classes, [&](int64_t i) { return label[begin + i]; }, 1.0f,
          nullptr, cross_entropy[member], correct[member]);
    };
    p.reset();
    const int64_t parts = impl.team->size();
    const int64_t total = parts + impl.members * (per_member + 1);
    impl.team->run([&](int64_t worker) {
      torch::NoGradGuard guard;
      const PartTimer timer(&impl.profile, worker, Part::kEvaluation);
      try {
        for (int64_t t = p.next.fetch_add(1); t < total; t = p.next.fetch_add(1)) {
          int64_t i = t;
          if (i < parts) {
            impl.gather(images, rows.data(), n * i / parts, n * (i + 1) / parts, stride,
                        transposed_only ? nullptr : xs.data_ptr<float>(), x_t.data_ptr<float>());
            p.gathered.fetch_add(1, std::memory_order_acq_rel);
            continue;
          }
          i -= parts;
          if (i < impl.members * per_member) {
            wait_until(p.gathered, parts, p.failed);
            const int64_t r = i / per_member, piece = i % per_member;
            impl.forward_piece(r, piece, xs.data_ptr<float>(), x_t.data_ptr<float>(), stride,
                               hs.data_ptr<float>(), n, worker, nullptr);
            p.forward[r].fetch_add(1, std::memory_order_acq_rel);
            continue;
          }
          i -= impl.members * per_member;
          if (!active.empty() && !active[static_cast<size_t>(i)]) continue;
          wait_until(p.forward[i], per_member, p.failed);
          member_pass(i, worker);
        }
      } catch (...) {
        p.failed = true;
        throw;
      }
    });
  }
  impl.profile.count_evaluated(examples);
  std::vector<EvalMetrics> metrics(members_.size());
  for (size_t r = 0; r < members_.size(); ++r) {
    if (!active.empty() && !active[r]) continue;
    EvalMetrics& m = metrics[r];
    m.data_loss = cross_entropy[r] / static_cast<double>(examples);
    m.accuracy = static_cast<double>(correct[r]) / static_cast<double>(examples);
    m.penalty = l2_penalty(first_linear(members_[r].model)->weight, members_[r].l2).item<double>();
    const auto first = fired.begin() + static_cast<std::ptrdiff_t>(r) * impl.hidden;
    m.dead_units = static_cast<double>(std::count(first, first + impl.hidden, uint8_t{0})) /
                   static_cast<double>(impl.hidden);
    m.loss = m.data_loss + m.penalty;
  }
  return metrics;
}

bool FusedCpuEngine::finite(size_t member) const {
  torch::NoGradGuard no_grad;
  const auto r = static_cast<int64_t>(member);
  const std::vector<torch::Tensor> views = impl_->member_views(r);
  for (const torch::Tensor& buffer : {impl_->exp_avg, impl_->exp_avg_sq}) {
    // The moments laid out like the parameters: the same offsets.
    for (const torch::Tensor& view : views) {
      const int64_t offset = (view.data_ptr<float>() - impl_->params.data_ptr<float>());
      const torch::Tensor moment = buffer.narrow(0, offset, view.numel());
      if (!torch::isfinite(moment).all().item<bool>()) return false;
    }
  }
  for (const torch::Tensor& view : views) {
    if (!torch::isfinite(view).all().item<bool>()) return false;
  }
  return true;
}

namespace {

/// The names of a member's four parameters in a checkpoint, in member_views order.
constexpr std::array<const char*, 4> kParameterNames{"w1", "b1", "w2", "b2"};

}  // namespace

void FusedCpuEngine::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  archive.write("fused.step", torch::tensor({impl_->step}, torch::kInt64));
  const std::vector<torch::Tensor> views = impl_->member_views(static_cast<int64_t>(member));
  for (size_t i = 0; i < views.size(); ++i) {
    const int64_t offset = views[i].data_ptr<float>() - impl_->params.data_ptr<float>();
    const int64_t size = views[i].numel();
    archive.write(std::string("fused.exp_avg.") + kParameterNames[i],
                  impl_->exp_avg.narrow(0, offset, size).clone());
    archive.write(std::string("fused.exp_avg_sq.") + kParameterNames[i],
                  impl_->exp_avg_sq.narrow(0, offset, size).clone());
  }
}

void FusedCpuEngine::load_state(size_t member, torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  torch::Tensor step;
  archive.read("fused.step", step);
  impl_->step = step.item<int64_t>();  // every member of a group has taken as many steps
  const std::vector<torch::Tensor> views = impl_->member_views(static_cast<int64_t>(member));
  for (size_t i = 0; i < views.size(); ++i) {
    const int64_t offset = views[i].data_ptr<float>() - impl_->params.data_ptr<float>();
    const int64_t size = views[i].numel();
    for (auto [prefix, buffer] : {std::pair{"fused.exp_avg.", &impl_->exp_avg},
                                  std::pair{"fused.exp_avg_sq.", &impl_->exp_avg_sq}}) {
      torch::Tensor saved;
      archive.read(std::string(prefix) + kParameterNames[i], saved);
      TORCH_CHECK(saved.numel() == size && saved.scalar_type() == torch::kFloat32, "Adam state ",
                  prefix, kParameterNames[i], " has the wrong size");
      buffer->narrow(0, offset, size).copy_(saved.reshape({size}));
    }
  }
}

}  // namespace l2sweep
