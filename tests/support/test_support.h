#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/config/runs.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/data/data.h"
#include "l2sweep/sweep/observer.h"
#include "l2sweep/train/metrics.h"

/// Checks that `statement` throws `exception_type` whose what() contains `substring`
/// (after fmt's EXPECT_THROW_MSG and pytorch's ASSERT_THROWS_WITH).
#define EXPECT_THROW_WITH(statement, exception_type, substring)                       \
  EXPECT_THROW(                                                                       \
      {                                                                               \
        try {                                                                         \
          statement;                                                                  \
        } catch (const exception_type& e) {                                           \
          EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)         \
              << "message: " << e.what() << "\nexpected to contain: " << (substring); \
          throw;                                                                      \
        }                                                                             \
      },                                                                              \
      exception_type)

namespace l2sweep::testing {

/// Every engine's name, in the registry's order: what engine tests are instantiated over, so a
/// new engine is tested by every one of them.
std::vector<std::string> engine_names();

/// A run's settings by name, for tests: a_run().l2(1e-3).seed(4) is the only run of a sweep
/// (index 0 of 1) unless index() and count() say otherwise.
class RunBuilder {
 public:
  RunBuilder() { spec_.count = 1; }
  RunBuilder& l2(double value) { return set(&RunSpec::l2, value); }
  RunBuilder& dropout(double value) { return set(&RunSpec::dropout, value); }
  RunBuilder& weight_decay(double value) { return set(&RunSpec::weight_decay, value); }
  RunBuilder& seed(uint64_t value) {
    spec_.seed = value;
    return *this;
  }
  RunBuilder& index(int64_t value) {
    spec_.index = value;
    return *this;
  }
  RunBuilder& count(int64_t value) {
    spec_.count = value;
    return *this;
  }
  operator RunSpec() const { return spec_; }  // NOLINT: a builder reads as what it builds

 private:
  RunBuilder& set(double RunSpec::*field, double value) {
    spec_.*field = value;
    return *this;
  }
  RunSpec spec_;
};

inline RunBuilder a_run() { return {}; }

/// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Environment variables set for a scope and restored (or unset) at its exit.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const std::vector<std::pair<std::string, std::string>>& variables);
  ~ScopedEnvironment();
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

/// The bytes of an IDX file of unsigned bytes: big-endian magic, dims, then `values`.
std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& values);

/// `bytes` gzip-compressed.
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes);

void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_bytes(const std::filesystem::path& path);

/// A tiny dataset whose classes are easy to tell apart: class c lights up row block c.
struct SyntheticData {
  int64_t train = 60;
  int64_t test = 20;
  uint32_t rows = 6;
  uint32_t cols = 5;
  int classes = 3;
  bool gzip = true;
};

/// Writes the four IDX files of `data` into `dir` (named like MNIST's, .gz if data.gzip).
void write_synthetic_dataset(const std::filesystem::path& dir, const SyntheticData& data);

/// data/fashion-mnist-mini, the real-data fixture made by scripts/make_fixtures.py.
std::filesystem::path fixture_dir();

/// The fixture's splits with 200 validation and 500 training examples (16 batches of 32, the
/// last one partial), loaded once.
const Datasets& small_fixture();

/// Path of the built l2sweep executable.
std::filesystem::path l2sweep_binary();

/// Every element of `actual` within atol + rtol * |expected| of `expected`, except at most
/// `max_outside_share` of them.
::testing::AssertionResult all_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                     double rtol = 1e-6, double atol = 1e-7,
                                     double max_outside_share = 0);

/// The runs of `config`'s sweep on `device` (make_plan, then run_sweep): a sweep as the
/// tests start one, without checkpoints, on data already on `device`.
std::vector<RunResult> sweep(const SweepConfig& config, const Datasets& data,
                             const torch::Device& device, SweepObserver& observer);

/// The plan's job count for `config` with `runs` strengths (one seed) on `device`.
int64_t jobs_for(SweepConfig config, const torch::Device& device, int64_t runs);
/// The threads each unit's step spreads over in that plan.
int64_t threads_for(SweepConfig config, const torch::Device& device, int64_t runs);

/// Expects the last epochs of two runs of the same experiment on different devices or paths
/// to agree up to float rounding (loss, val_loss, val_accuracy and ||W1||).
void expect_same_run_up_to_rounding(const EpochMetrics& a, const EpochMetrics& b);

/// Trains with `engine` on `device` beside autograd and torch::optim::Adam on the CPU, from
/// the same weights and batch order, for six epochs of `data.train` (a partial last batch
/// included): L2 0, 1e-4 and 1e-2, Dropout, decoupled weight decay and all three together,
/// each with torch's and Keras' Adam; expects the epoch means, the parameters and the
/// validation metrics to agree up to float rounding.
/// `own_products`: the engine makes its products otherwise than LibTorch (the fused engine), so
/// after two epochs its trajectory may drift further (the tolerances say how far).
void expect_engine_tracks_autograd(std::string engine, const Datasets& data,
                                   const torch::Device& device = torch::kCPU,
                                   bool own_products = false);

/// Expects `engine` with --adam torch and --adam keras to follow the autograd engine with the
/// same update far more closely than with the other one: it applies the update it was asked for.
void expect_engine_applies_the_chosen_adam(std::string engine, const Datasets& data);

}  // namespace l2sweep::testing
