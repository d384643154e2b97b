#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace l2sweep {

/// What kind of mistake an Error reports; each kind maps to one documented exit code
/// (l2sweep/base/exit_codes.h).
enum class ErrorKind {
  kInternal,  ///< a bug or an unexpected library failure
  kUsage,     ///< a bad command-line option or value
  kData,      ///< a missing, truncated or corrupt data file
  kOutput,    ///< the output folder or a file in it cannot be written
};

/// The one exception type the library throws for anything a user can cause.
/// Its message is a single line that names the offending thing and what was expected.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
Error usage_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorKind::kUsage, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
Error data_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorKind::kData, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
Error output_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorKind::kOutput, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace l2sweep
