#include "profile.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace l2sweep::fused {
namespace {

constexpr std::array<const char*, static_cast<size_t>(Part::kCount)> kPartNames{
    "gather", "products", "adam", "loss", "elementwise", "waiting", "evaluation"};

}  // namespace

StepProfile::StepProfile(int64_t members, int64_t threads)
    : members_(members),
      start_(Clock::now()),
      started_at_(std::chrono::system_clock::now()),
      nanoseconds_(static_cast<size_t>(threads)) {
  if (const char* path = std::getenv("L2SWEEP_PROFILE"); path != nullptr) path_ = path;
}

StepProfile::~StepProfile() {
  if (!on()) return;
  const double wall = std::chrono::duration<double>(Clock::now() - start_).count();
  const auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  std::string parts;
  for (size_t p = 0; p < kPartNames.size(); ++p) {
    std::vector<double> seconds;
    for (const auto& worker : nanoseconds_)
      seconds.push_back(static_cast<double>(worker[p]) * 1e-9);
    parts += fmt::format("{}\"{}\": [{:.6f}]", p == 0 ? "" : ", ", kPartNames[p],
                         fmt::join(seconds, ", "));
  }
  const std::string line = fmt::format(
      "{{\"members\": {}, \"threads\": {}, \"member_steps\": {}, "
      "\"evaluated_examples\": {}, \"wall_seconds\": {:.6f}, \"started_at\": {:.6f}, "
      "\"ended_at\": {:.6f}, \"seconds\": {{{}}}}}\n",
      members_, nanoseconds_.size(), member_steps_, evaluated_ * members_, wall,
      unix_seconds(started_at_), unix_seconds(std::chrono::system_clock::now()), parts);
  // One write per engine, appended: cohorts side by side never interleave their lines.
  static std::mutex mutex;
  const std::lock_guard<std::mutex> lock(mutex);
  // Never blocks (a FIFO without a reader) and writes only to a regular file.
  const int fd =
      ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) {
    [[maybe_unused]] const ssize_t written = ::write(fd, line.data(), line.size());
  }
  ::close(fd);
}

}  // namespace l2sweep::fused
