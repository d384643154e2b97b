#include "l2sweep/train/engines/fused_cpu.h"

#include <ATen/ATen.h>
#include <dlfcn.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>

#include "l2sweep/train/adam.h"
#include "l2sweep/train/dropout.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

/// Rows of W1 per product: the first layer and W1's gradient are computed block by block, one
/// BLAS call on the same 64 rows whatever the cohort. A BLAS may round an
/// element differently as the product grows (OpenBLAS does for batches under 16), so the
/// products never grow: a member's numbers are the same alone or among any others.
constexpr int64_t kRowBlock = 64;
/// Examples per stacked product when evaluating. Each example's cross-entropy is added to its
/// member's sum in order, so the chunk size changes no number; small chunks keep the
/// buffers (every member's hidden layer for the chunk) small.
constexpr int64_t kEvalChunk = 1024;
/// Lanes of the sum of squares within a block: lane l adds elements l, l + 8, l + 16, ... in
/// float, and the lanes are added in order in double; a fixed arrangement that vectorises.
constexpr int kSquareLanes = 8;

struct AdamCoefficients {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, inverse_sqrt_bias2, eps, decay;
  /// Decoupled weight decay, torch::optim::AdamW's: p *= shrink (1 - lr * wd) before the update;
  /// 1 without weight decay, which changes no bit.
  float shrink = 1.0f;
  /// Keras' update (--adam keras): its step size alpha, and its decoupled decay
  /// p -= p * keras_decay * keras_lr.
  float keras_alpha = 0, keras_decay = 0, keras_lr = 0;
};

/// The loop of both Adam kernels: `update(i)` updates element i of the buffers. With
/// `squares`, also the sum of squares of the parameters before the update (the penalty of the
/// weights the batch was measured with), in kSquareLanes float lanes added in order.
template <typename Update>
__attribute__((always_inline)) inline void adam_loop(const float* __restrict param, int64_t size,
                                                     double* squares, Update update) {
  int64_t i = 0;
  if (squares != nullptr) {  // one pass: each parameter is read once
    float lanes[kSquareLanes] = {};
    for (; i + kSquareLanes <= size; i += kSquareLanes) {
      for (int l = 0; l < kSquareLanes; ++l) lanes[l] += param[i + l] * param[i + l];
      for (int l = 0; l < kSquareLanes; ++l) update(i + l);
    }
    double sum = 0;
    for (int l = 0; l < kSquareLanes; ++l) sum += lanes[l];
    for (int64_t k = i; k < size; ++k) sum += static_cast<double>(param[k] * param[k]);
    *squares = sum;
  }
  for (; i < size; ++i) update(i);
}

// torch::optim::Adam's update in one pass (AdamW's with shrink != 1):
//   grad = gradient + 2 * l2 * param                      (W1 only: the penalty's gradient)
//   exp_avg = exp_avg * beta1 + grad * (1 - beta1)
//   exp_avg_sq = exp_avg_sq * beta2 + grad * grad * (1 - beta2)
//   param = param * shrink
//           - lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) * (1 / sqrt(1 - beta2^t)) + eps)
// torch::optim::Adam divides by sqrt(1 - beta2^t) where this multiplies by its reciprocal:
// within an ulp of it, and one division fewer per element (a square root and two divisions
// are most of this loop's time).
// The loop has no other reduction and restrict pointers so the compiler vectorises it; on x86-64
// an AVX2 clone is picked at load time where the CPU has it (an AVX-512 clone was slower). This
// file is built with -O3 -fno-math-errno -ffp-contract=off (lib/train/CMakeLists.txt): no fused
// multiply-adds, and square roots and divisions are correctly rounded in every instruction set, so
// every clone gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c,
                 double* squares) {
  adam_loop(param, size, squares, [&](int64_t i) {
    const float p = param[i];
    const float g = gradient[i] + c.decay * p;
    m[i] = m[i] * c.beta1 + g * c.one_minus_beta1;
    v[i] = v[i] * c.beta2 + g * g * c.one_minus_beta2;
    param[i] =
        p * c.shrink - c.step_size * (m[i] / (std::sqrt(v[i]) * c.inverse_sqrt_bias2 + c.eps));
  });
}

// Keras' Adam (keras/src/optimizers/adam.py, KerasAdam), in one pass:
//   param = param - param * weight_decay * lr             (AdamW's decoupled decay)
//   m += (grad - m) * (1 - beta_1);  v += (grad^2 - v) * (1 - beta_2)
//   param -= m * alpha / (sqrt(v) + eps)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void keras_adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                       const float* __restrict gradient, int64_t size, AdamCoefficients c,
                       double* squares) {
  adam_loop(param, size, squares, [&](int64_t i) {
    const float p = param[i];
    const float g = gradient[i] + c.decay * p;
    m[i] = m[i] + (g - m[i]) * c.one_minus_beta1;
    v[i] = v[i] + (g * g - v[i]) * c.one_minus_beta2;
    const float decayed = c.keras_decay != 0.0f ? p - p * c.keras_decay * c.keras_lr : p;
    param[i] = decayed - m[i] * c.keras_alpha / (std::sqrt(v[i]) + c.eps);
  });
}

/// g = 0 where the ReLU's output h was not positive (its gradient), for `size` elements.
void mask_by_relu(float* __restrict g, const float* __restrict h, int64_t size) {
  for (int64_t i = 0; i < size; ++i) g[i] = h[i] > 0.0f ? g[i] : 0.0f;
}

/// Keras' Dropout on one member's hidden layer h^T ([units, n]): h = h * scale where the
/// batch's `noise` ([n, units], row e for example e) is >= rate, else 0.
void apply_dropout(float* __restrict h, const float* __restrict noise, int64_t units, int64_t n,
                   float rate, float scale) {
  for (int64_t k = 0; k < units; ++k) {
    for (int64_t e = 0; e < n; ++e) {
      h[k * n + e] = noise[e * units + k] >= rate ? h[k * n + e] * scale : 0.0f;
    }
  }
}

/// The gradient through Dropout and the ReLU: g = g * scale where the dropped-out output h was
/// positive (kept and active), else 0.
void mask_by_dropout_relu(float* __restrict g, const float* __restrict h, int64_t size,
                          float scale) {
  for (int64_t i = 0; i < size; ++i) g[i] = h[i] > 0.0f ? g[i] * scale : 0.0f;
}

/// out[k] = the sum of row k of `rows` rows of `n` values: in kSquareLanes lanes added in
/// order (a fixed arrangement that vectorises), then the rest in order.
void sum_rows(const float* __restrict values, int64_t rows, int64_t n, float* __restrict out) {
  for (int64_t k = 0; k < rows; ++k) {
    const float* row = values + k * n;
    float lanes[kSquareLanes] = {};
    int64_t e = 0;
    for (; e + kSquareLanes <= n; e += kSquareLanes) {
      for (int l = 0; l < kSquareLanes; ++l) lanes[l] += row[e + l];
    }
    float total = 0;
    for (int l = 0; l < kSquareLanes; ++l) total += lanes[l];
    for (; e < n; ++e) total += row[e];
    out[k] = total;
  }
}

/// Fortran BLAS's sgemm, as every BLAS exports it (OpenBLAS, MKL, the reference BLAS).
using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                       const float*, const int*, const float*, const int*, const float*, float*,
                       const int*);

/// The BLAS LibTorch itself calls for its float products, found in the process: calling it
/// directly saves LibTorch's per-operation dispatch, a few microseconds on every one of the
/// step's small products. Null where no such symbol is visible (the products then go through
/// LibTorch).
Sgemm find_sgemm() {
  static const auto sgemm = reinterpret_cast<Sgemm>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  return sgemm;
}

/// Alignment of every operand the BLAS sees. A BLAS may pick its code path, and so its
/// rounding, by the operands' alignment (MKL's gemv paths do on some CPUs: issue 22), and a
/// member's pieces of the stacked buffers (its logits, its rows of a tail batch) start at
/// offsets that depend on its place in the cohort. tests/support/alignment_sensitive_blas.c
/// is a BLAS that rounds by alignment, for the cohort tests.
constexpr uintptr_t kOperandAlignment = 64;

bool is_aligned(const float* p) {
  return reinterpret_cast<uintptr_t>(p) % kOperandAlignment == 0;
}

/// Floats a row-major array of `rows` rows of `cols` with row stride `ld` spans.
int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 ? 0 : (rows - 1) * ld + cols; }

/// This thread's buffer `which` of at least `size` floats, 64-byte aligned (c10's allocator).
float* scratch_buffer(int which, int64_t size) {
  thread_local std::array<torch::Tensor, 3> buffers;
  torch::Tensor& buffer = buffers[static_cast<size_t>(which)];
  if (!buffer.defined() || buffer.numel() < size) {
    buffer = torch::empty({std::max<int64_t>(size, 1)}, torch::TensorOptions().dtype(torch::kFloat32));
  }
  return buffer.data_ptr<float>();
}

void unaligned_gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                    int64_t ldc);

/// Row-major C[m, n] = op(A)[m, k] op(B)[k, n], op transposing when asked; `lda`, `ldb` and
/// `ldc` are the row strides of the arrays as stored. One BLAS call, the same one for the same
/// shapes and strides, on operands that start on 64-byte boundaries, whatever else the step
/// computes: an operand that does not is computed from (or into) an aligned copy.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (!is_aligned(a) || !is_aligned(b) || !is_aligned(c)) {
    unaligned_gemm(transpose_a, transpose_b, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  if (const Sgemm sgemm = find_sgemm()) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    const int mm = static_cast<int>(n), nn = static_cast<int>(m), kk = static_cast<int>(k);
    const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
    const float one = 1.0f, zero = 0.0f;
    sgemm(transpose_b ? "T" : "N", transpose_a ? "T" : "N", &mm, &nn, &kk, &one, b, &la, a, &lb,
          &zero, c, &lc);
    return;
  }
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  const auto view = [&](const float* data, bool transpose, int64_t rows, int64_t cols,
                        int64_t stride) {
    const torch::Tensor t =
        transpose ? torch::from_blob(const_cast<float*>(data), {cols, rows}, {stride, 1}, f).t()
                  : torch::from_blob(const_cast<float*>(data), {rows, cols}, {stride, 1}, f);
    return t;
  };
  torch::Tensor out = torch::from_blob(c, {m, n}, {ldc, 1}, f);
  at::mm_out(out, view(a, transpose_a, m, k, lda), view(b, transpose_b, k, n, ldb));
}

void unaligned_gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                    int64_t ldc) {
  // Each misaligned operand moves to a buffer of its own, with its row stride kept, so that
  // the BLAS sees the same strides as for an aligned one.
  const auto place = [](int which, const float* data, int64_t size) -> const float* {
    if (is_aligned(data)) return data;
    float* copy = scratch_buffer(which, size);
    std::copy(data, data + size, copy);
    return copy;
  };
  const float* aa = place(0, a, transpose_a ? span(k, m, lda) : span(m, k, lda));
  const float* bb = place(1, b, transpose_b ? span(n, k, ldb) : span(k, n, ldb));
  const int64_t c_size = span(m, n, ldc);
  float* cc = is_aligned(c) ? c : scratch_buffer(2, c_size);
  gemm(transpose_a, transpose_b, m, n, k, aa, lda, bb, ldb, cc, ldc);
  if (cc != c) {
    for (int64_t row = 0; row < m; ++row) std::copy(cc + row * ldc, cc + row * ldc + n, c + row * ldc);
  }
}

/// Rows `rows` of `images` (uint8 pixels, or float32 already scaled) as float32 pixel / 255
/// into `out` ([rows.size(), features]). The division is IEEE float division, exact and
/// vectorised, so the bits are those of the float tensors the other engines divide
/// (Keras semantics: scale by /255 and nothing else).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void gather_rows(const torch::Tensor& images, const int64_t* rows, int64_t begin, int64_t end,
                 int64_t features, float* out) {
  if (images.scalar_type() == torch::kUInt8) {
    const uint8_t* pixels = images.data_ptr<uint8_t>();
    constexpr int64_t kAhead = 4;  // rows are random: fetch a few ahead, a line at a time
    for (int64_t r = begin; r < std::min(begin + kAhead, end); ++r) {
      for (int64_t k = 0; k < features; k += 64)
        __builtin_prefetch(pixels + rows[r] * features + k);
    }
    for (int64_t r = begin; r < end; ++r) {
      if (r + kAhead < end) {
        const uint8_t* next = pixels + rows[r + kAhead] * features;
        for (int64_t k = 0; k < features; k += 64) __builtin_prefetch(next + k);
      }
      const uint8_t* __restrict from = pixels + rows[r] * features;
      float* __restrict to = out + r * features;
      for (int64_t k = 0; k < features; ++k) to[k] = static_cast<float>(from[k]) / 255.0f;
    }
    return;
  }
  const float* pixels = images.data_ptr<float>();
  for (int64_t r = begin; r < end; ++r) {
    std::memcpy(out + r * features, pixels + rows[r] * features,
                static_cast<size_t>(features) * sizeof(float));
  }
}

/// Softmax cross-entropy of one example from its logits (`classes` of them, `stride` apart)
/// with label `y`: writes (softmax - onehot) * `scale` into `gradient` (when not null), and
/// returns the cross-entropy; `correct` tells whether the largest logit is the label.
float softmax_cross_entropy(const float* logits, int64_t stride, int64_t classes, int64_t y,
                            float scale, float* gradient, bool* correct) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (logits[c * stride] > logits[best * stride]) best = c;
  }
  *correct = best == y;
  const float peak = logits[best * stride];
  float total = 0;
  for (int64_t c = 0; c < classes; ++c) total += std::exp(logits[c * stride] - peak);
  const float log_total = std::log(total);
  if (gradient != nullptr) {
    for (int64_t c = 0; c < classes; ++c) {
      gradient[c] =
          (std::exp(logits[c * stride] - peak - log_total) - (c == y ? 1.0f : 0.0f)) * scale;
    }
  }
  return log_total - (logits[y * stride] - peak);
}

}  // namespace

struct FusedCpuEngine::Impl {
  /// The step's buffers for a batch of `n` examples.
  struct Buffers {
    torch::Tensor x;           ///< [n, inputs]: the batch's pixels
    torch::Tensor hidden_t;    ///< [members * hidden, n]: every member's hidden layer, transposed
    torch::Tensor logits_t;    ///< [members, classes, n]
    torch::Tensor d_logits;    ///< [members, n, classes]: d(mean cross-entropy)/d(logits)
    torch::Tensor d_hidden_t;  ///< [members * hidden, n]
  };

  int64_t members = 0, hidden = 0, inputs = 0, classes = 0;
  std::vector<double> l2, dropout, weight_decay;
  double learning_rate = 0;
  bool keras_adam = false;  ///< Keras' update rather than torch::optim::Adam's
  int64_t step = 0;
  /// Parameters, gradients and Adam's moments, each one flat buffer laid out as every
  /// member's W1 ([members * hidden, inputs], member after member), then b1, W2 and b2.
  torch::Tensor params, grads, exp_avg, exp_avg_sq;
  torch::Tensor w1, b1, w2, b2, grad_w1, grad_b1, grad_w2, grad_b2;
  /// Rows of the stacked W1 in kRowBlock blocks from the start of each member's: (first, rows).
  std::vector<std::pair<int64_t, int64_t>> row_blocks;
  /// The sum of squares of each row block of W1 before the step's update, in row_blocks order.
  std::vector<double> block_squares;
  std::map<int64_t, Buffers> buffers;  ///< by batch size: the full batch and the epoch's tail
  std::vector<double> cross_entropy;   ///< the batch's summed cross-entropy, per member
  std::vector<int64_t> correct;
  /// Each thread's dW1 for one row block: computed, then used by Adam while still in cache.
  std::vector<float> gradient_scratch;

  Impl(const std::vector<Member>& cohort, const TrainOptions& options)
      : learning_rate(options.learning_rate), keras_adam(options.adam == AdamVariant::kKeras) {
    const auto first = first_linear(cohort.front().model);
    const auto second = second_linear(cohort.front().model);
    members = static_cast<int64_t>(cohort.size());
    hidden = first->weight.size(0);
    inputs = first->weight.size(1);
    classes = second->weight.size(0);
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
    for (int64_t r = 0; r < members; ++r) {
      for (int64_t row = 0; row < hidden; row += kRowBlock) {
        row_blocks.emplace_back(r * hidden + row, std::min(kRowBlock, hidden - row));
      }
    }
    block_squares.assign(row_blocks.size(), 0.0);
    gradient_scratch.resize(static_cast<size_t>(kRowBlock * inputs));
    cross_entropy.resize(static_cast<size_t>(members));
    correct.resize(static_cast<size_t>(members));
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
    Buffers b{torch::empty({n, inputs}, f), torch::empty({members * hidden, n}, f),
              torch::empty({members, classes, n}, f), torch::empty({members, n, classes}, f),
              torch::empty({members * hidden, n}, f)};
    return buffers.emplace(n, std::move(b)).first->second;
  }

  /// The first layer of every member for the `n` examples in `x`, row block by row block:
  /// hidden^T = relu(W1 x^T + b1).
  void first_layer(const torch::Tensor& x, torch::Tensor& hidden_t, int64_t n) {
    const float* bias = b1.data_ptr<float>();
    for (const auto& [begin, rows] : row_blocks) {
      float* h = hidden_t.data_ptr<float>() + begin * n;
      gemm(false, true, rows, n, inputs, w1.data_ptr<float>() + begin * inputs, inputs,
           x.data_ptr<float>(), inputs, h, n);
      for (int64_t k = 0; k < rows; ++k) {
        const float b = bias[begin + k];
        for (int64_t e = 0; e < n; ++e) h[k * n + e] = std::max(h[k * n + e] + b, 0.0f);
      }
    }
  }

  /// Member r's second layer, loss and the gradients of its second layer: the part of the
  /// backward pass that needs all of the member's hidden units.
  void member_head(Buffers& b, const int64_t* labels, const int64_t* rows, int64_t n, int64_t r) {
    const float* hidden_t = b.hidden_t.data_ptr<float>() + r * hidden * n;  // [hidden, n]
    float* z = b.logits_t[r].data_ptr<float>();                             // [classes, n]
    gemm(false, false, classes, n, hidden, w2[r].data_ptr<float>(), hidden, hidden_t, n, z, n);
    const float* bias = b2[r].data_ptr<float>();
    for (int64_t c = 0; c < classes; ++c) {
      for (int64_t i = 0; i < n; ++i) z[c * n + i] += bias[c];
    }
    float* dz = b.d_logits[r].data_ptr<float>();  // [n, classes]
    const float scale = 1.0f / static_cast<float>(n);
    double sum = 0;
    int64_t right = 0;
    for (int64_t i = 0; i < n; ++i) {
      bool hit = false;
      sum += static_cast<double>(
          softmax_cross_entropy(z + i, n, classes, labels[rows[i]], scale, dz + i * classes, &hit));
      right += hit ? 1 : 0;
    }
    cross_entropy[static_cast<size_t>(r)] = sum;
    correct[static_cast<size_t>(r)] = right;

    // dW2[classes, hidden] = dz^T [classes, n] hidden [n, hidden], db2 = sum of dz.
    gemm(true, true, classes, hidden, n, dz, classes, hidden_t, n, grad_w2[r].data_ptr<float>(),
         hidden);
    float* db2 = grad_b2[r].data_ptr<float>();
    std::fill(db2, db2 + classes, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < classes; ++c) db2[c] += dz[i * classes + c];
    }
  }

  /// The rest of the backward pass and Adam on row block `i` of W1 (rows of one member):
  /// d hidden^T = (W2^T dz^T) * (hidden > 0) and db1 on those rows, their rows of dW1 =
  /// d hidden^T x into this thread's `scratch`, and Adam on those rows of W1 and b1 while the
  /// gradient is still in cache (the sum of squares of the rows taken before the update): no
  /// gradient buffer the size of every W1 streams through memory. W2 is only read here (other
  /// blocks of the member read it too), so it is updated after them (second_layer_adam).
  void row_block_backward(Buffers& b, int64_t n, size_t i, const AdamCoefficients& c,
                          float* scratch) {
    const auto [begin, rows] = row_blocks[i];
    const int64_t r = begin / hidden;
    float* dh = b.d_hidden_t.data_ptr<float>() + begin * n;
    // d hidden^T [rows, n] = W2[:, rows]^T [rows, classes] dz^T [classes, n]
    gemm(true, true, rows, n, classes, w2[r].data_ptr<float>() + (begin - r * hidden), hidden,
         b.d_logits[r].data_ptr<float>(), classes, dh, n);
    const float* h = b.hidden_t.data_ptr<float>() + begin * n;
    if (dropout[static_cast<size_t>(r)] > 0) {
      mask_by_dropout_relu(dh, h, rows * n, dropout_scale(dropout[static_cast<size_t>(r)]));
    } else {
      mask_by_relu(dh, h, rows * n);
    }
    sum_rows(dh, rows, n, grad_b1.data_ptr<float>() + begin);
    gemm(false, false, rows, inputs, n, dh, n, b.x.data_ptr<float>(), inputs, scratch, inputs);

    AdamCoefficients decayed = c;
    const auto member = static_cast<size_t>(r);
    decayed.decay = static_cast<float>(2 * l2[member]);
    decayed.shrink = static_cast<float>(1 - learning_rate * weight_decay[member]);
    decayed.keras_decay = static_cast<float>(weight_decay[member]);
    const int64_t offset = begin * inputs;
    adam(params.data_ptr<float>() + offset, exp_avg.data_ptr<float>() + offset,
         exp_avg_sq.data_ptr<float>() + offset, scratch, rows * inputs, decayed, &block_squares[i]);
    update(b1.data_ptr<float>() - params.data_ptr<float>() + begin, rows, c, nullptr);
  }

  /// Adam on member r's W2 and b2, once no block reads W2 any more.
  void second_layer_adam(int64_t r, const AdamCoefficients& c) {
    update(w2[r].data_ptr<float>() - params.data_ptr<float>(), classes * hidden, c, nullptr);
    update(b2[r].data_ptr<float>() - params.data_ptr<float>(), classes, c, nullptr);
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

  AdamCoefficients coefficients() const {
    const auto t = static_cast<double>(step);
    AdamCoefficients c{};
    c.beta1 = static_cast<float>(kAdamBeta1);
    c.beta2 = static_cast<float>(kAdamBeta2);
    c.one_minus_beta1 = static_cast<float>(1 - kAdamBeta1);
    c.one_minus_beta2 = static_cast<float>(1 - kAdamBeta2);
    c.step_size = static_cast<float>(learning_rate / (1 - std::pow(kAdamBeta1, t)));
    c.inverse_sqrt_bias2 = static_cast<float>(1 / std::sqrt(1 - std::pow(kAdamBeta2, t)));
    c.eps = static_cast<float>(kAdamEpsilon);
    c.decay = 0.0f;
    c.keras_alpha = keras_adam_alpha(learning_rate, step);
    c.keras_lr = static_cast<float>(learning_rate);
    return c;
  }

  /// One Adam step of every member on the examples `rows` of `images`/`labels`, whose dropout
  /// noise is `noise` ([n, hidden]; null when no member has Dropout); adds each member's batch
  /// loss, cross-entropy and accuracy (measured before the update) to `meters`.
  void step_on(const torch::Tensor& images, const int64_t* labels, const int64_t* rows, int64_t n,
               const float* noise, std::vector<EpochMeters>& meters) {
    torch::NoGradGuard no_grad;
    Buffers& b = buffers_for(n);
    ++step;
    gather_rows(images, rows, 0, n, inputs, b.x.data_ptr<float>());
    first_layer(b.x, b.hidden_t, n);
    for (int64_t r = 0; r < members; ++r) {
      const double rate = dropout[static_cast<size_t>(r)];
      if (rate <= 0) continue;
      TORCH_CHECK(noise != nullptr, "a Dropout member trained without the epoch's noise");
      apply_dropout(b.hidden_t.data_ptr<float>() + r * hidden * n, noise, hidden, n,
                    static_cast<float>(rate), dropout_scale(rate));
    }
    for (int64_t r = 0; r < members; ++r) member_head(b, labels, rows, n, r);
    const AdamCoefficients c = coefficients();
    for (size_t i = 0; i < row_blocks.size(); ++i) {
      row_block_backward(b, n, i, c, gradient_scratch.data());
    }
    // W2 last: every row block of a member reads it.
    for (int64_t r = 0; r < members; ++r) second_layer_adam(r, c);
    const auto count = static_cast<double>(n);
    size_t block = 0;
    for (int64_t r = 0; r < members; ++r) {
      double squares = 0;
      for (; block < row_blocks.size() && row_blocks[block].first / hidden == r; ++block) {
        squares += block_squares[block];
      }
      const double data_loss = cross_entropy[static_cast<size_t>(r)] / count;
      const double loss = data_loss + l2[static_cast<size_t>(r)] * squares;
      EpochMeters& meter = meters[static_cast<size_t>(r)];
      meter.loss.add_sum(loss * count, n);
      meter.data_loss.add_sum(data_loss * count, n);
      meter.accuracy.add_sum(static_cast<double>(correct[static_cast<size_t>(r)]), n);
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
  for (int64_t batch = 0; batch < batches; ++batch) {
    if (control.stop.stop_requested()) throw StopRequested();
    const int64_t begin = batch * batch_size;
    const int64_t count = std::min(batch_size, examples - begin);
    const float* noise = control.dropout_noise.defined()
                             ? noise_rows.data_ptr<float>() + begin * impl_->hidden
                             : nullptr;
    impl_->step_on(images, labels.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + begin, count,
                   noise, meters);
    if (control.on_batch) control.on_batch((batch + 1) * active, steps);
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
  torch::Tensor x = torch::empty({chunk, impl.inputs}, f);
  torch::Tensor hidden_t = torch::empty({impl.members * impl.hidden, chunk}, f);
  // One member's logits at a time, in a buffer of their own: a member's place in a stacked
  // buffer would give its product another alignment in another cohort (see gemm).
  torch::Tensor logits_t = torch::empty({impl.classes, chunk}, f);
  std::vector<int64_t> rows(static_cast<size_t>(chunk));
  std::vector<double> cross_entropy(members_.size(), 0.0);
  std::vector<int64_t> correct(members_.size(), 0);
  // Per member and hidden unit: whether its ReLU was positive on any example.
  std::vector<uint8_t> fired(static_cast<size_t>(impl.members * impl.hidden), 0);
  for (int64_t begin = 0; begin < examples; begin += chunk) {
    const int64_t n = std::min(chunk, examples - begin);
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = begin + i;
    torch::Tensor xs = x.narrow(0, 0, n);
    torch::Tensor hs = n == chunk ? hidden_t : torch::empty({impl.members * impl.hidden, n}, f);
    gather_rows(images, rows.data(), 0, n, impl.inputs, xs.data_ptr<float>());
    impl.first_layer(xs, hs, n);
    for (int64_t r = 0; r < impl.members; ++r) {
      const auto member = static_cast<size_t>(r);
      if (!active.empty() && !active[member]) continue;
      const float* h = hs.data_ptr<float>() + r * impl.hidden * n;
      for (int64_t k = 0; k < impl.hidden; ++k) {
        uint8_t& unit = fired[static_cast<size_t>(r * impl.hidden + k)];
        for (int64_t e = 0; e < n && unit == 0; ++e) unit = h[k * n + e] > 0.0f ? 1 : 0;
      }
      torch::Tensor z_t = n == chunk ? logits_t : torch::empty({impl.classes, n}, f);
      at::addmm_out(z_t, impl.b2[r].unsqueeze(1), impl.w2[r],
                    hs.narrow(0, r * impl.hidden, impl.hidden));
      const float* z = z_t.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        bool hit = false;
        cross_entropy[member] += static_cast<double>(
            softmax_cross_entropy(z + i, n, impl.classes, label[begin + i], 1.0f, nullptr, &hit));
        correct[member] += hit ? 1 : 0;
      }
    }
  }
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

std::string FusedCpuEngine::description() const {
  return describe_engine(EngineKind::kFused, /*cuda_graphs=*/false, options_.adam,
                         any_weight_decay(members_));
}

}  // namespace l2sweep
