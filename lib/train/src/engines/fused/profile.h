#pragma once

// Where a fused CPU cohort's time goes (lib/train/src/engines/fused/fused_cpu.cpp): private to
// the train layer. Off unless the environment names a file (L2SWEEP_PROFILE); the CPU benchmark
// (scripts/bench/bench.py) sets it and sets each part against its own floor.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace l2sweep::fused {

/// The parts of a step, and evaluation.
enum class Part {
  kGather,       ///< the batch's pixels, gathered and converted
  kProducts,     ///< the matrix products (BLAS)
  kAdam,         ///< Adam's update, the penalty's gradient and the sum of squares
  kLoss,         ///< softmax, cross-entropy and its gradient
  kElementwise,  ///< biases, ReLU, Dropout and their gradients
  kWaiting,      ///< a thread waiting on another's task within a step
  kEvaluation,   ///< validation and test passes, whole
  kCount
};

/// Seconds per part and team thread, written as one JSON line when the engine ends.
class StepProfile {
 public:
  using Clock = std::chrono::steady_clock;

  /// On when L2SWEEP_PROFILE names a file.
  StepProfile(int64_t members, int64_t threads);
  ~StepProfile();
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;

  bool on() const { return !path_.empty(); }
  void add(int64_t worker, Part part, Clock::duration time) {
    nanoseconds_[static_cast<size_t>(worker)][static_cast<size_t>(part)] +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(time).count();
  }
  /// Counts for the floors: a step of `members` members; `examples` evaluated by every member.
  void count_step(int64_t members) { member_steps_ += members; }
  void count_evaluated(int64_t examples) { evaluated_ += examples; }

 private:
  std::string path_;
  int64_t members_ = 0;
  Clock::time_point start_;
  std::chrono::system_clock::time_point started_at_;  ///< for the benchmark's start-up time
  std::vector<std::array<int64_t, static_cast<size_t>(Part::kCount)>> nanoseconds_;
  int64_t member_steps_ = 0, evaluated_ = 0;
};

/// Adds the time from its making to its end to `part` of `worker`, when the profile is on.
class PartTimer {
 public:
  PartTimer(StepProfile* profile, int64_t worker, Part part)
      : profile_(profile != nullptr && profile->on() ? profile : nullptr),
        worker_(worker),
        part_(part) {
    if (profile_ != nullptr) start_ = StepProfile::Clock::now();
  }
  ~PartTimer() {
    if (profile_ != nullptr) profile_->add(worker_, part_, StepProfile::Clock::now() - start_);
  }
  PartTimer(const PartTimer&) = delete;
  PartTimer& operator=(const PartTimer&) = delete;

 private:
  StepProfile* profile_;
  int64_t worker_;
  Part part_;
  StepProfile::Clock::time_point start_;
};

}  // namespace l2sweep::fused
