#pragma once

// The threads a fused CPU cohort's step spreads over (lib/train/src/engines/fused/fused_cpu.cpp):
// private to the train layer.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace l2sweep::fused {

/// Threads that run one job at a time together with the thread that asks for it (worker 0), in
/// the spirit of an OpenMP parallel region: `run` returns when every thread has finished the
/// job. Each job runs with the floating-point settings of the thread that asks for it
/// (denormals flushed: runner.cpp), so a task's bits never depend on the thread it runs on.
/// Between jobs the threads spin for a while (a step's jobs come every few hundred
/// microseconds) and then sleep. A team of one runs every job on the caller, with no thread.
class Team {
 public:
  explicit Team(int64_t threads);
  ~Team();
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int64_t size() const { return static_cast<int64_t>(threads_.size()) + 1; }

  /// Runs job(worker) on every thread, worker 0 on the caller. Once every thread has returned,
  /// rethrows a job's exception (the caller's own first, then another thread's; never an
  /// Abandoned echo when there is a real error).
  void run(const std::function<void(int64_t)>& job);

 private:
  void serve(int64_t worker);
  /// Wakes every thread to end and joins them.
  void close();
  void finish(std::exception_ptr error);

  std::vector<std::thread> threads_;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> running_{0};
  std::atomic<bool> closing_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::exception_ptr error_;
  unsigned floating_point_state_ = 0;
};

/// Spins until `counter` reaches `target`, or throws Abandoned once `failed` is set (another
/// task of the job threw, so the awaited one may never finish). A task waits only on tasks
/// taken before it, which a running thread holds, so the wait always ends.
class Abandoned : public std::exception {
 public:
  const char* what() const noexcept override { return "a task this one waited on failed"; }
};
void wait_until(const std::atomic<int64_t>& counter, int64_t target,
                const std::atomic<bool>& failed);

}  // namespace l2sweep::fused
