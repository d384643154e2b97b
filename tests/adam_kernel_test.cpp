// The fused step's Adam kernels (lib/train/src/engines/fused/kernels.cpp) against their exact
// form. kernels.h is private to the train layer: this file is compiled as the step's own files
// are (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string_view>
#include <vector>

#include "kernels.h"
#include "tiles.h"

namespace l2sweep::fused {
namespace {

struct State {
  std::vector<float> param, m, v, gradient;
};

/// Parameters, moments and gradients over many orders of magnitude, with zeros (a dead unit's
/// weights have no gradient and no second moment) and, every 17th, a second moment that has
/// decayed to a denormal float.
State random_state(int64_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 2);
  State s;
  for (int64_t i = 0; i < size; ++i) {
    const float scale = std::ldexp(1.0f, exponent(random));
    const bool dead = i % 13 == 0;
    s.param.push_back(unit(random) * scale);
    s.gradient.push_back(dead ? 0.0f : unit(random) * scale * 1e-2f);
    s.m.push_back(dead ? 0.0f : unit(random) * scale * 1e-3f);
    const float v = dead ? 0.0f : std::abs(unit(random)) * scale * scale * 1e-6f;
    s.v.push_back(i % 17 == 0 ? FLT_MIN * 0.25f : v);
  }
  return s;
}

AdamCoefficients coefficients(int64_t step, float decay, float shrink, float keras_decay) {
  AdamCoefficients c{};
  c.beta1 = 0.9f;
  c.beta2 = 0.999f;
  c.one_minus_beta1 = 0.1f;
  c.one_minus_beta2 = 0.001f;
  c.step_size = static_cast<float>(1e-3 / (1 - std::pow(0.9, step)));
  c.inverse_sqrt_bias2 = static_cast<float>(1 / std::sqrt(1 - std::pow(0.999, step)));
  c.eps = 1e-7f;
  c.decay = decay;
  c.shrink = shrink;
  c.keras_alpha =
      static_cast<float>(1e-3 * std::sqrt(1 - std::pow(0.999, step)) / (1 - std::pow(0.9, step)));
  c.keras_decay = keras_decay;
  c.keras_lr = 1e-3f;
  return c;
}

void step(State& s, int64_t begin, int64_t end, const AdamCoefficients& c, bool keras, bool exact) {
  float* p = s.param.data() + begin;
  float* m = s.m.data() + begin;
  float* v = s.v.data() + begin;
  const float* g = s.gradient.data() + begin;
  double squares = 0;
  if (exact) {
    exact_adam_kernel(p, m, v, g, end - begin, c, &squares, keras);
  } else if (keras) {
    keras_adam_kernel(p, m, v, g, end - begin, c, &squares);
  } else {
    adam_kernel(p, m, v, g, end - begin, c, &squares);
  }
}

TEST(AdamKernel, StaysWithinAFewUlpsOfTheExactUpdateWithTheSameMoments) {
  // Denormals are not flushed here (the sweep flushes them, a library caller may not): a
  // denormal second moment must not turn a weight into NaN.
  std::cout << "Adam form in this process: " << adam_form() << "\n";
  for (const bool keras : {false, true}) {
    const State start = random_state(4099, keras ? 2 : 1);
    for (const int64_t t : {1, 2, 10, 1000}) {
      const AdamCoefficients c = coefficients(t, 2e-3f, keras ? 1.0f : 0.9995f, keras ? 0.5f : 0);
      State fast = start, exact = start;
      step(fast, 0, 4099, c, keras, false);
      step(exact, 0, 4099, c, keras, true);
      int64_t off = 0;
      for (size_t i = 0; i < start.param.size(); ++i) {
        // The moments are computed alike, bit for bit.
        ASSERT_EQ(fast.m[i], exact.m[i]) << i;
        ASSERT_EQ(fast.v[i], exact.v[i]) << i;
        // The step: within 4 ulps of the exact one, plus the rounding of the new parameter.
        const double moved = static_cast<double>(start.param[i]) - exact.param[i];
        const double allowed = 4 * std::abs(moved) * 0x1p-23 +
                               std::abs(std::nextafter(exact.param[i], INFINITY) - exact.param[i]);
        const double error = std::abs(static_cast<double>(fast.param[i]) - exact.param[i]);
        if (error > allowed) ++off;
        EXPECT_LE(error, allowed) << "keras " << keras << " t " << t << " element " << i << ": "
                                  << start.param[i] << " -> " << exact.param[i] << " exact, "
                                  << fast.param[i] << " fast";
        if (off > 5) return;
      }
    }
  }
}

TEST(AdamKernel, HasTheMomentsOfTorchsOwnOperations) {
  // torch::optim::Adam's exp_avg.mul_(beta1).add_(grad, 1 - beta1) and
  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2), run by LibTorch here: each form's
  // moments have their bits (on a CPU with FMA torch's vectorised kernels fuse the multiply-add,
  // and a form that did not would differ in about 0.3% of them; without FMA neither fuses).
  const char* capability = std::getenv("ATEN_CPU_CAPABILITY");
  if (capability != nullptr && std::string_view(capability) == "default") {
    GTEST_SKIP() << "ATEN_CPU_CAPABILITY=default: torch's kernels do not fuse on this FMA CPU";
  }
  const int64_t size = 4099;
  const State start = random_state(size, 6);
  const AdamCoefficients c = coefficients(5, 0, 1.0f, 0);
  const auto tensor = [&](const std::vector<float>& values) {
    return torch::tensor(values, torch::kFloat32);
  };
  const torch::Tensor grad = tensor(start.gradient);
  const torch::Tensor m = tensor(start.m).mul_(0.9).add_(grad, 1 - 0.9);
  const torch::Tensor v = tensor(start.v).mul_(0.999).addcmul_(grad, grad, 1 - 0.999);
  for (const bool exact : {false, true}) {
    State s = start;
    step(s, 0, size, c, false, exact);
    for (int64_t i = 0; i < size; ++i) {
      ASSERT_EQ(s.m[static_cast<size_t>(i)], m.data_ptr<float>()[i]) << exact << " at " << i;
      ASSERT_EQ(s.v[static_cast<size_t>(i)], v.data_ptr<float>()[i]) << exact << " at " << i;
    }
  }
}

TEST(AdamKernel, GivesAParameterTheSameBitsWhereverACallStartsOrEnds) {
  // A member's W1 is updated in pieces of rows; another cohort or piece size must not change a
  // bit: the whole array at once against calls of awkward sizes and offsets.
  for (const bool keras : {false, true}) {
    const State start = random_state(1000, 3);
    const AdamCoefficients c = coefficients(7, 1e-3f, 1.0f, 0);
    State whole = start, pieces = start;
    step(whole, 0, 1000, c, keras, false);
    int64_t begin = 0;
    for (const int64_t size : {1, 15, 17, 392, 8, 7, 560}) {
      step(pieces, begin, begin + size, c, keras, false);
      begin += size;
    }
    ASSERT_EQ(begin, 1000);
    EXPECT_EQ(whole.param, pieces.param);
    EXPECT_EQ(whole.m, pieces.m);
    EXPECT_EQ(whole.v, pieces.v);
  }
}

TEST(AdamKernel, TakesTheSumOfSquaresOfTheWeightsBeforeTheUpdateInEveryForm) {
  const State start = random_state(1001, 4);
  const AdamCoefficients c = coefficients(3, 0, 1.0f, 0);
  for (const bool exact : {false, true}) {
    State s = start;
    double squares = -1;
    if (exact) {
      exact_adam_kernel(s.param.data(), s.m.data(), s.v.data(), s.gradient.data(), 1001, c,
                        &squares, false);
    } else {
      adam_kernel(s.param.data(), s.m.data(), s.v.data(), s.gradient.data(), 1001, c, &squares);
    }
    // The same fixed arrangement of float lanes in every form: the same bits.
    float lanes[kAdamSquareLanes] = {};
    for (int64_t i = 0; i < 1001; ++i) {
      lanes[i % kAdamSquareLanes] += start.param[i] * start.param[i];
    }
    double want = 0;
    for (const float l : lanes) want += l;
    EXPECT_EQ(squares, want) << (exact ? "exact" : "fast");
  }
}

}  // namespace
}  // namespace l2sweep::fused

namespace l2sweep::fused {
namespace {

TEST(TileProduct, IsOneChainOfFusedMultiplyAddsPerElementWhateverTheShape) {
  if (!tile_products()) GTEST_SKIP() << "no AVX-512 here (or L2SWEEP_PRODUCTS=blas)";
  std::mt19937 random(5);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  // (m, n, k, lda, ldb): the forward pieces (a piece's 64 hidden units over all 784 inputs, for
  // full batches, the partial batches of the fixture and of 55,000 examples, an evaluation
  // chunk and its last, shorter one, read at the chunk's padded stride), the gradient pieces
  // (64 rows by all 784 inputs, over a batch), and shapes of the layout before (column pieces).
  const std::vector<std::array<int64_t, 5>> shapes{
      {64, 32, 784, 784, 32},
      {64, 7, 784, 784, 7},
      {64, 16, 784, 784, 16},
      {64, 17, 784, 784, 17},
      {64, 1024, 784, 784, 1040},
      {64, 784, 784, 784, 1040},
      {64, 784, 32, 32, 784},
      {64, 784, 16, 16, 784},
      {64, 784, 7, 7, 784},
      {128, 32, 384, 784, 32},
      {128, 24, 400, 784, 24},
      {128, 400, 20, 20, 784},
      {8, 1, 1, 1, 1},
      // Heights that take every kind of tile (14 rows, 8, and each of 1 to 7 left over): the
      // second layer's logits (10 classes over the hidden units, full and partial batches),
      // dW2^T (the hidden units over a batch, 10 columns) and d hidden (128 by a batch over
      // 10 classes), then odd ones.
      {10, 32, 128, 128, 32},
      {10, 7, 128, 128, 7},
      {128, 10, 32, 32, 10},
      {128, 32, 10, 10, 32},
      {13, 33, 9, 9, 40},
      {30, 17, 5, 5, 17},
      {1, 48, 3, 3, 48},
      {71, 64, 12, 12, 64},
      {3, 40, 6, 6, 40},
      {4, 16, 6, 6, 16},
      {6, 70, 4, 4, 70},
      {20, 5, 2, 2, 5}};
  constexpr int64_t kPadding = 5;  // columns past the result that must stay untouched
  constexpr float kSentinel = -7.0f;
  for (const auto& [m, n, k, lda, ldb] : shapes) {
    std::vector<float> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(k * ldb));
    for (float& v : a) v = unit(random);
    for (float& v : b) v = unit(random);
    const int64_t ldc = n + kPadding;
    std::vector<float> c(static_cast<size_t>(m * ldc), kSentinel);
    tile_product(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const float got = c[static_cast<size_t>(i * ldc + j)];
        if (j >= n) {
          ASSERT_EQ(got, kSentinel) << "wrote past column " << n << " in row " << i;
          continue;
        }
        // The same bits as fused multiply-adds over k in order, from zero.
        float want = 0.0f;
        for (int64_t p = 0; p < k; ++p) want = std::fma(a[i * lda + p], b[p * ldb + j], want);
        ASSERT_EQ(got, want) << "shape " << m << "x" << n << "x" << k << " at " << i << "," << j;
      }
    }
  }
}

TEST(SparseProduct, HasTheBitsOfTheFullChainWhateverTheZerosAndTheShape) {
  if (!tile_products()) GTEST_SKIP() << "no AVX-512 here (or L2SWEEP_PRODUCTS=blas)";
  std::mt19937 random(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f), chance(0.0f, 1.0f);
  // (m, n, k, lda, ldb): the gradient pieces (64 and 60 rows by all 784 inputs, over full and
  // partial batches, one longer than a 16-term block), then widths that end in a full block, in
  // one of every size up to kLastVectors, and past it.
  const std::vector<std::array<int64_t, 5>> shapes{
      {64, 784, 32, 32, 784}, {60, 784, 7, 7, 784},   {8, 784, 33, 40, 790}, {3, 128, 16, 16, 128},
      {5, 130, 20, 20, 131},  {4, 192, 5, 5, 200},    {2, 208, 9, 9, 208},   {1, 7, 1, 1, 7},
      {9, 300, 48, 50, 301},  {2, 1000, 17, 17, 1000}};
  constexpr int64_t kPadding = 5;
  constexpr float kSentinel = -7.0f;
  for (const float density : {0.0f, 0.3f, 0.5f, 1.0f}) {
    for (const auto& [m, n, k, lda, ldb] : shapes) {
      std::vector<float> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(k * ldb));
      // A ReLU gradient: zeros of both signs between the terms; B the pixels, zeros among them.
      for (float& v : a)
        v = chance(random) < density ? unit(random) : (unit(random) < 0 ? -0.0f : 0.0f);
      for (float& v : b) v = chance(random) < 0.5f ? std::abs(unit(random)) : 0.0f;
      const int64_t ldc = n + kPadding;
      std::vector<float> c(static_cast<size_t>(m * ldc), kSentinel);
      sparse_product(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
      std::vector<float> dense = c;
      tile_product(m, n, k, a.data(), lda, b.data(), ldb, dense.data(), ldc);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
          const auto at = static_cast<size_t>(i * ldc + j);
          if (j >= n) {
            ASSERT_EQ(c[at], kSentinel) << "wrote past column " << n << " in row " << i;
            continue;
          }
          float want = 0.0f;
          for (int64_t p = 0; p < k; ++p) want = std::fma(a[i * lda + p], b[p * ldb + j], want);
          // Bit for bit, the sign of a zero included (no product here underflows, the one way
          // a zero result's sign could differ: tiles.h).
          ASSERT_EQ(std::signbit(c[at]), std::signbit(want)) << i << "," << j;
          ASSERT_EQ(c[at], want) << "shape " << m << "x" << n << "x" << k << " density " << density
                                 << " at " << i << "," << j;
          ASSERT_EQ(c[at], dense[at]);
        }
      }
    }
  }
  // A NaN in A is a term like any other: it reaches its row, as in the full chain.
  std::vector<float> a{0.0f, std::nanf(""), 0.5f}, b{1.0f, 2.0f, 3.0f}, c(1);
  sparse_product(1, 1, 3, a.data(), 3, b.data(), 1, c.data(), 1);
  EXPECT_TRUE(std::isnan(c[0]));
}

TEST(GatherTransposed, HasTheBitsOfGatherRowsAndTransposeForEveryShape) {
  if (!tile_products()) GTEST_SKIP() << "no AVX-512 here (or L2SWEEP_PRODUCTS=blas)";
  std::mt19937 random(9);
  // (examples, features, begin, end): whole 16-row blocks, partial ones, features that are and
  // are not a multiple of 16.
  const std::vector<std::array<int64_t, 4>> shapes{
      {300, 784, 0, 32}, {300, 784, 16, 32},     {300, 784, 3, 40},  {300, 20, 0, 17},
      {300, 7, 5, 6},    {1100, 784, 512, 1024}, {300, 784, 30, 30}, {300, 33, 1, 49}};
  for (const auto& [examples, features, begin, end] : shapes) {
    // Every byte value appears, so the division's bits are checked for each of them.
    const torch::Tensor images = torch::randint(0, 256, {examples, features}, torch::kUInt8);
    images.view(-1).narrow(0, 0, 256).copy_(torch::arange(256).to(torch::kUInt8));
    const int64_t n = end, stride = n + 3;
    std::vector<int64_t> rows(static_cast<size_t>(n));
    std::uniform_int_distribution<int64_t> pick(0, examples - 1);
    for (auto& row : rows) row = pick(random);
    if (features * n >= 256) {
      for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;  // rows 0.. hold 0..255
      std::shuffle(rows.begin() + begin, rows.end(), random);
    }
    std::vector<float> want_x(static_cast<size_t>(n * features), -1.0f), got_x = want_x;
    std::vector<float> want_t(static_cast<size_t>(features * stride), -1.0f), got_t = want_t,
                                                                              only_t = want_t;
    gather_rows(images, rows.data(), begin, end, features, want_x.data());
    transpose(want_x.data() + begin * features, end - begin, features, want_t.data() + begin,
              stride);
    gather_transposed(images.data_ptr<uint8_t>(), rows.data(), begin, end, features, got_x.data(),
                      got_t.data(), stride);
    gather_transposed(images.data_ptr<uint8_t>(), rows.data(), begin, end, features, nullptr,
                      only_t.data(), stride);
    for (size_t i = 0; i < want_x.size(); ++i) {
      ASSERT_EQ(got_x[i], want_x[i])
          << examples << "x" << features << " [" << begin << ", " << end << ") at " << i;
    }
    for (size_t i = 0; i < want_t.size(); ++i) {
      ASSERT_EQ(got_t[i], want_t[i])
          << examples << "x" << features << " [" << begin << ", " << end << ") at " << i;
      ASSERT_EQ(only_t[i], want_t[i]);
    }
  }
}

TEST(SoftmaxCrossEntropy, ABatchAgreesWithOneExampleAtATimeWhateverItsSize) {
  std::mt19937 random(11);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (const int64_t classes : {2, 10, 37}) {
    for (const int64_t n : {1, 15, 16, 17, 32, 50}) {
      std::vector<float> logits(static_cast<size_t>(classes * n));
      for (float& v : logits) v = normal(random);
      // Ties for the largest logit: the first of them is the prediction, as one at a time.
      for (int64_t c = 0; c < classes; ++c) logits[static_cast<size_t>(c * n)] = 3.0f;
      std::vector<int64_t> labels(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = (i * 7 + 1) % classes;
      labels[0] = 0;
      std::vector<float> gradient(static_cast<size_t>(n * classes), -9.0f);
      double sum = 0.5;  // added to, example by example
      int64_t correct = 3;
      softmax_cross_entropy_batch(
          logits.data(), n, classes, [&](int64_t i) { return labels[static_cast<size_t>(i)]; },
          0.25f, gradient.data(), sum, correct);
      double want_sum = 0.5;
      int64_t want_correct = 3;
      for (int64_t i = 0; i < n; ++i) {
        std::vector<float> want(static_cast<size_t>(classes));
        bool hit = false;
        want_sum += softmax_cross_entropy(logits.data() + i, n, classes,
                                          labels[static_cast<size_t>(i)], 0.25f, want.data(), &hit);
        want_correct += hit ? 1 : 0;
        for (int64_t c = 0; c < classes; ++c) {
          // Within a few ulps of the softmax (glibc's vector exp and log where they are used).
          EXPECT_NEAR(gradient[static_cast<size_t>(i * classes + c)], want[static_cast<size_t>(c)],
                      1e-6f)
              << classes << " classes, " << n << " examples, example " << i << " class " << c;
        }
      }
      EXPECT_NEAR(sum, want_sum, 1e-5 * std::abs(want_sum));
      EXPECT_EQ(correct, want_correct) << classes << " classes, " << n << " examples";
    }
  }
}

}  // namespace
}  // namespace l2sweep::fused
