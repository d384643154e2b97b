#include "team.h"

#include <chrono>

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace l2sweep::fused {
namespace {

void pause() {
#if defined(__SSE__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

/// How long a waiting thread spins before it yields (a task) or sleeps (between jobs): longer
/// than a step's waits, far shorter than the gaps between epochs.
constexpr auto kSpinTime = std::chrono::microseconds(100);
/// Pause instructions between looks at the clock (a pause is 10 to 150 cycles by CPU).
constexpr int kPausesPerLook = 16;

/// Spins until `done()` or the spin time is over; returns done().
template <typename Done>
bool spin(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpinTime;
  while (!done()) {
    for (int i = 0; i < kPausesPerLook; ++i) pause();
    if (std::chrono::steady_clock::now() > until) return done();
  }
  return true;
}

unsigned floating_point_state() {
#if defined(__SSE__)
  return _mm_getcsr();
#else
  return 0;
#endif
}

void set_floating_point_state([[maybe_unused]] unsigned state) {
#if defined(__SSE__)
  _mm_setcsr(state);
#endif
}

/// Whether `error` is only the echo of another task's failure.
bool is_abandoned(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Abandoned&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

Team::Team(int64_t threads) {
  try {
    for (int64_t w = 1; w < threads; ++w) threads_.emplace_back([this, w] { serve(w); });
  } catch (...) {
    close();  // the threads already started end before the error leaves
    throw;
  }
}

Team::~Team() { close(); }

void Team::close() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    ++generation_;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void Team::run(const std::function<void(int64_t)>& job) {
  if (threads_.empty()) {
    job(0);
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    error_ = nullptr;
    floating_point_state_ = floating_point_state();
    running_.store(static_cast<int64_t>(threads_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  std::exception_ptr error;
  try {
    job(0);
  } catch (...) {
    error = std::current_exception();
  }
  const auto finished = [&] { return running_.load(std::memory_order_acquire) == 0; };
  if (!spin(finished)) {
    while (!finished()) std::this_thread::yield();
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  if (error_ && (!error || is_abandoned(error))) error = error_;
  job_ = nullptr;
  if (error) std::rethrow_exception(error);
}

void Team::finish(std::exception_ptr error) {
  if (error) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!error_ || is_abandoned(error_)) error_ = error;
  }
  running_.fetch_sub(1, std::memory_order_acq_rel);
}

void Team::serve(int64_t worker) {
  uint64_t seen = 0;
  for (;;) {
    if (!spin([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (closing_) return;
    const std::function<void(int64_t)>* job = nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      job = job_;
      set_floating_point_state(floating_point_state_);
    }
    std::exception_ptr error;
    try {
      (*job)(worker);
    } catch (...) {
      error = std::current_exception();
    }
    finish(error);
  }
}

void wait_until(const std::atomic<int64_t>& counter, int64_t target,
                const std::atomic<bool>& failed) {
  const auto ready = [&] {
    return counter.load(std::memory_order_acquire) >= target ||
           failed.load(std::memory_order_relaxed);
  };
  if (!spin(ready)) {
    while (!ready()) std::this_thread::yield();
  }
  if (counter.load(std::memory_order_acquire) < target) throw Abandoned();
}

}  // namespace l2sweep::fused
