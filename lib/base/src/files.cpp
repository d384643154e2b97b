#include "l2sweep/base/files.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "l2sweep/base/error.h"

namespace l2sweep {
namespace fs = std::filesystem;

void create_folder(const fs::path& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    throw output_error("{}: cannot create folder ({})", folder.string(), error.message());
  }
}

std::optional<std::string> read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file_atomically(const fs::path& path, const std::string& content) {
  // A temporary name of its own: shards of one sweep write the same sweep.cfg at once.
  static std::atomic<int> counter{0};
  const fs::path temporary =
      fmt::format("{}.tmp.{}.{}", path.string(), ::getpid(), counter.fetch_add(1));
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) {
    throw output_error("{}: cannot write ({})", temporary.string(), std::strerror(errno));
  }
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size() &&
                       std::fflush(file) == 0 && ::fsync(fileno(file)) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    std::remove(temporary.c_str());
    throw output_error("{}: write failed ({})", path.string(),
                       std::strerror(written ? errno : write_errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temporary.c_str());
    throw output_error("{}: cannot replace ({})", path.string(), std::strerror(rename_errno));
  }
}

AppendOnlyFile::AppendOnlyFile(fs::path path, bool append) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), append ? "ab" : "wb");
  if (file_ == nullptr) {
    throw output_error("{}: cannot create ({})", path_.string(), std::strerror(errno));
  }
}

AppendOnlyFile::~AppendOnlyFile() { std::fclose(file_); }

void AppendOnlyFile::append(std::string_view chunk) {
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size() ||
      std::fflush(file_) != 0) {
    throw output_error("{}: write failed ({})", path_.string(), std::strerror(errno));
  }
}

}  // namespace l2sweep
