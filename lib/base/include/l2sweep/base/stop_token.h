#pragma once

#include <atomic>
#include <exception>
#include <vector>

namespace l2sweep {

class StopToken;

/// Owns a stop request. request_stop() is async-signal-safe, so a signal handler may call it.
class StopSource {
 public:
  void request_stop() noexcept { flag_.store(true); }
  bool stop_requested() const noexcept { return flag_.load(std::memory_order_relaxed); }
  StopToken token() const noexcept;

 private:
  static_assert(std::atomic<bool>::is_always_lock_free, "request_stop() runs in signal handlers");
  std::atomic<bool> flag_{false};
};

/// What a long loop checks at its boundaries (a batch, an epoch): whether any of the stop
/// sources it watches asked it to stop. A default token never stops. It does not own the
/// sources, which must outlive it.
class StopToken {
 public:
  StopToken() = default;

  bool stop_requested() const noexcept {
    for (const auto* source : sources_) {
      if (source->stop_requested()) return true;
    }
    return false;
  }

  /// A token that also stops when `other` asks.
  StopToken also(const StopSource& other) const {
    StopToken combined = *this;
    combined.sources_.push_back(&other);
    return combined;
  }

 private:
  std::vector<const StopSource*> sources_;
};

inline StopToken StopSource::token() const noexcept { return StopToken().also(*this); }

/// Thrown by a training loop at a batch boundary once its StopToken asks it to stop.
class StopRequested : public std::exception {
 public:
  const char* what() const noexcept override { return "stop requested"; }
};

}  // namespace l2sweep
