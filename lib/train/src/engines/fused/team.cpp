#include "team.h"

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace l2sweep::fused {
namespace {

/// Spins before a waiting thread yields or sleeps: about 10-50 microseconds of pause
/// instructions, longer than a step's waits and shorter than the gaps between epochs.
constexpr int kSpins = 20000;

void pause() {
#if defined(__SSE__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
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

Team::Team(int64_t threads) : floating_point_state_(floating_point_state()) {
  for (int64_t w = 1; w < threads; ++w) threads_.emplace_back([this, w] { serve(w); });
}

Team::~Team() {
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
  for (int spins = 0; running_.load(std::memory_order_acquire) > 0; ++spins) {
    if (spins < kSpins) {
      pause();
    } else {
      std::this_thread::yield();
    }
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
  set_floating_point_state(floating_point_state_);
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpins) {
      pause();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (closing_) return;
    const std::function<void(int64_t)>* job = nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      job = job_;
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
  for (int spins = 0; counter.load(std::memory_order_acquire) < target; ++spins) {
    if (failed.load(std::memory_order_relaxed)) throw Abandoned();
    if (spins < kSpins) {
      pause();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace l2sweep::fused
