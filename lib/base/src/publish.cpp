#include "l2sweep/base/publish.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "l2sweep/base/error.h"
#include "l2sweep/base/file_lock.h"
#include "l2sweep/base/files.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStagingMarker = ".l2sweep-staging.";

/// Whether `name` in an existing output folder is l2sweep's own leftover: a lock file, or a
/// temporary file of one of `files`.
bool is_leftover(const std::string& name, const std::vector<PublishedFile>& files) {
  if (name.rfind(".l2sweep", 0) == 0 && name.size() > 5 &&
      name.compare(name.size() - 5, 5, ".lock") == 0) {
    return true;
  }
  const std::optional<std::string> target = temporary_file_target(name);
  if (!target) return false;
  for (const PublishedFile& file : files) {
    if (file.first == *target) return true;
  }
  return false;
}

/// Removes the staging folders for `name` that dead processes of this host left in `parent`.
void remove_stale_staging(const fs::path& parent, const std::string& name) {
  const std::string prefix = "." + name + kStagingMarker + host_name() + ".";
  std::error_code error;
  for (fs::directory_iterator it(parent, error), end; !error && it != end; it.increment(error)) {
    const std::string entry = it->path().filename().string();
    if (entry.rfind(prefix, 0) != 0 || it->is_symlink(error)) continue;
    char* rest = nullptr;
    const long pid = std::strtol(entry.c_str() + prefix.size(), &rest, 10);
    if (pid <= 0 || *rest != '\0' || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
}

Error in_use(const char* option, const fs::path& shown, const fs::path& lock) {
  return output_error(
      "{} {}: in use by {}; expected no other l2sweep writing it (wait for that one, or choose "
      "another {})",
      option, shown.string(), FileLock::holder(lock), option);
}

}  // namespace

fs::path publish_folder(const fs::path& out, const std::vector<PublishedFile>& files,
                        const std::string& command, const char* option) {
  const fs::path shown = out;
  std::error_code error;
  const fs::file_status status = fs::status(out, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    throw output_error("{} {}: cannot use it as a folder ({}); expected a new or empty folder",
                       option, shown.string(), error.message());
  }
  const bool existed = fs::exists(status);
  fs::path folder = out;
  std::optional<FileLock> held;
  if (existed) {
    if (!fs::is_directory(status)) {
      throw output_error("{} {}: exists and is not a folder; expected a new or empty folder",
                         option, shown.string());
    }
    // The folder itself (through links, without a trailing separator): renamed onto below.
    folder = fs::canonical(out, error);
    if (error) {
      throw output_error("{} {}: cannot resolve it ({})", option, shown.string(),
                         error.message());
    }
    held = FileLock::try_lock(folder / kFolderLockFile, FileLock::Mode::kExclusive);
    if (!held) throw in_use(option, shown, folder / kFolderLockFile);
    for (fs::directory_iterator it(folder, error), end; !error && it != end;
         it.increment(error)) {
      if (it->is_symlink(error) || !is_leftover(it->path().filename().string(), files)) {
        held->release_and_remove_if_created();
        throw output_error("{} {}: not empty; expected a new or empty folder (results are never "
                           "overwritten)",
                           option, shown.string());
      }
    }
    if (error) {
      held->release_and_remove_if_created();
      throw output_error("{} {}: cannot read it ({})", option, shown.string(), error.message());
    }
  } else {
    folder = fs::absolute(out, error).lexically_normal();
    if (!folder.has_filename()) folder = folder.parent_path();
    create_folder(folder.parent_path());
  }

  const fs::path parent = folder.parent_path();
  const std::string name = folder.filename().string();
  remove_stale_staging(parent, name);
  const fs::path staging =
      parent / fmt::format(".{}{}{}.{}", name, kStagingMarker, host_name(), ::getpid());
  fs::remove_all(staging, error);  // this process's own, from an earlier call
  if (!fs::create_directory(staging, error)) {
    if (held) held->release_and_remove_if_created();
    throw output_error("{} {}: cannot create {} beside it ({})", option, shown.string(),
                       staging.filename().string(), error.message());
  }
  try {
    // The staging folder carries the lock into place: a writer that comes after the rename
    // finds the folder held by this process.
    std::optional<FileLock> lock =
        FileLock::try_lock(staging / kFolderLockFile, FileLock::Mode::kExclusive);
    if (lock) lock->record_holder(command);
    for (const PublishedFile& file : files) write_file_atomically(staging / file.first, file.second);
    if (existed) {
      // Keep the mode the user gave the folder; then empty it of l2sweep's leftovers, this
      // process's lock file last, so that the rename can replace it.
      fs::permissions(staging, fs::status(folder).permissions(), error);
      for (fs::directory_iterator it(folder, error), end; !error && it != end;
           it.increment(error)) {
        if (it->path().filename() != kFolderLockFile) fs::remove(it->path(), error);
      }
      fs::remove(folder / kFolderLockFile, error);
    }
    if (std::rename(staging.c_str(), folder.c_str()) != 0) {
      const int rename_errno = errno;
      if (rename_errno == ENOTEMPTY || rename_errno == EEXIST) {
        // Another writer got there first.
        if (fs::exists(folder / kFolderLockFile, error) &&
            !FileLock::try_lock(folder / kFolderLockFile, FileLock::Mode::kShared)) {
          throw in_use(option, shown, folder / kFolderLockFile);
        }
        throw output_error("{} {}: not empty; expected a new or empty folder (results are "
                           "never overwritten)",
                           option, shown.string());
      }
      throw output_error("{} {}: cannot move the finished files into place ({})", option,
                         shown.string(), std::strerror(rename_errno));
    }
    // The rename is durable once the parent folder is.
    const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  return shown;
}

}  // namespace l2sweep
