#include "l2sweep/base/publish.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "l2sweep/base/crc32c.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/file_lock.h"
#include "l2sweep/base/files.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStagingMarker = ".l2sweep-staging.";

bool starts_with(const std::string& text, const std::string& start) {
  return text.rfind(start, 0) == 0;
}

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

bool is_lock_file(const std::string& name) {
  return starts_with(name, ".l2sweep") && ends_with(name, ".lock");
}

bool is_named(const std::string& name, const std::vector<PublishedFile>& files) {
  for (const PublishedFile& file : files) {
    if (file.first == name) return true;
  }
  return false;
}

/// The pid of a staging folder of this host (`.l2sweep-staging.[...].<host>.<pid>`), or 0.
long staging_pid_here(const std::string& name) {
  if (!starts_with(name, kStagingMarker)) return 0;
  const size_t dot = name.rfind('.');
  const std::string rest = name.substr(0, dot);
  if (dot == std::string::npos || !ends_with(rest, "." + host_name())) return 0;
  char* end = nullptr;
  const long pid = std::strtol(name.c_str() + dot + 1, &end, 10);
  return pid > 0 && *end == '\0' ? pid : 0;
}

/// Removes the staging folders in `parent` that dead processes of this host left.
void remove_dead_staging(const fs::path& parent) {
  std::error_code error;
  for (fs::directory_iterator it(parent, error), end; !error && it != end; it.increment(error)) {
    const long pid = staging_pid_here(it->path().filename().string());
    if (pid == 0 || pid == ::getpid() || it->is_symlink(error)) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
}

/// What an existing folder holds that a publish may clear: l2sweep's lock files, temporary
/// files and staging folders, and the files of a publish killed while it renamed them into
/// place (some of `files`, never the last, which goes last). nullopt when it holds anything
/// else: a user's file, or a whole earlier result.
std::optional<std::vector<fs::path>> leftovers(const fs::path& folder,
                                               const std::vector<PublishedFile>& files) {
  std::vector<fs::path> found;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (it->is_symlink(error)) return std::nullopt;
    const std::optional<std::string> target = temporary_file_target(name);
    const bool file = it->is_regular_file(error);
    const bool ours = (file && is_lock_file(name)) ||
                      (it->is_directory(error) && starts_with(name, kStagingMarker)) ||
                      (file && target && is_named(*target, files)) ||
                      (file && is_named(name, files) && name != files.back().first);
    if (!ours) return std::nullopt;
    found.push_back(it->path());
  }
  if (error) return std::nullopt;
  return found;
}

/// The message of an Error thrown while writing in `staging`, naming the file's final place.
std::string without_staging(const Error& e, const fs::path& staging, const fs::path& folder) {
  std::string text = e.what();
  const std::string from = staging.string();
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), folder.string());
  }
  return text;
}

void fsync_folder(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

/// A new folder, whole or not at all: a complete staging folder beside it renamed into place.
/// False when it must be filled in place instead: the folder appeared meanwhile, or nothing
/// can be created beside it (a parent that is not writable, a name too long to extend).
bool publish_new(const fs::path& shown, const fs::path& folder,
                 const std::vector<PublishedFile>& files, const std::string& command,
                 const char* option) {
  const fs::path parent = folder.parent_path();
  remove_dead_staging(parent);
  const fs::path staging =
      parent / fmt::format("{}{:08x}.{}.{}", kStagingMarker, crc32c(folder.filename().string()),
                           host_name(), ::getpid());
  std::error_code error;
  fs::remove_all(staging, error);
  if (!fs::create_directory(staging, error)) return false;
  try {
    // The lock travels with the folder: a writer after the rename finds it held.
    std::optional<FileLock> lock =
        FileLock::try_lock(staging / kFolderLockFile, FileLock::Mode::kExclusive);
    if (lock) lock->record_holder(command);
    try {
      for (const PublishedFile& file : files) {
        write_file_atomically(staging / file.first, file.second);
      }
    } catch (const Error& e) {
      throw output_error("{}", without_staging(e, staging, folder));
    }
    // Never over a folder that appeared meanwhile, even an empty one (rename(2) would replace
    // it): that one is filled in place instead.
    int renamed =
        ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, folder.c_str(), RENAME_NOREPLACE);
    if (renamed != 0 && (errno == ENOSYS || errno == EINVAL)) {
      // A file system without RENAME_NOREPLACE: check, then rename (the window is short).
      renamed = fs::exists(folder, error) ? (errno = EEXIST, -1)
                                          : std::rename(staging.c_str(), folder.c_str());
    }
    if (renamed != 0) {
      const int rename_errno = errno;
      fs::remove_all(staging, error);
      if (rename_errno == ENOTEMPTY || rename_errno == EEXIST) return false;
      throw output_error("{} {}: cannot move the finished files into place ({})", option,
                         shown.string(), std::strerror(rename_errno));
    }
  } catch (...) {
    fs::remove_all(staging, error);
    throw;
  }
  fsync_folder(parent);
  return true;
}

/// An existing folder, filled in place under its lock: the files are written into a staging
/// folder inside it and renamed in, the last of `files` last, so that a folder holding it
/// holds them all; a killed publish's files are cleared by the next one.
void publish_existing(const fs::path& shown, const fs::path& folder,
                      const std::vector<PublishedFile>& files, const std::string& command,
                      const char* option) {
  std::optional<FileLock> held =
      FileLock::try_lock(folder / kFolderLockFile, FileLock::Mode::kExclusive);
  if (!held) throw folder_in_use(option, shown, folder / kFolderLockFile);
  const std::optional<std::vector<fs::path>> found = leftovers(folder, files);
  if (!found) {
    held->release_and_remove_if_created();
    throw folder_not_empty(option, shown);
  }
  held->record_holder(command);
  std::error_code error;
  for (const fs::path& leftover : *found) {
    const std::string name = leftover.filename().string();
    if (name == kFolderLockFile) continue;
    if (starts_with(name, kStagingMarker)) {
      // Only a dead process's: a live one may be publishing a folder inside this one.
      const long pid = staging_pid_here(name);
      if (pid == 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    }
    fs::remove_all(leftover, error);
  }
  const fs::path staging = folder / fmt::format("{}{}.{}", kStagingMarker, host_name(), ::getpid());
  std::vector<fs::path> placed;
  try {
    if (!fs::create_directory(staging, error)) {
      throw output_error("{} {}: cannot write in it ({})", option, shown.string(), error.message());
    }
    try {
      for (const PublishedFile& file : files) {
        write_file_atomically(staging / file.first, file.second);
      }
    } catch (const Error& e) {
      throw output_error("{}", without_staging(e, staging, folder));
    }
    for (const PublishedFile& file : files) {
      if (std::rename((staging / file.first).c_str(), (folder / file.first).c_str()) != 0) {
        throw output_error("{}: cannot move it into place ({})", (folder / file.first).string(),
                           std::strerror(errno));
      }
      placed.push_back(folder / file.first);
    }
    fs::remove(staging, error);
    fsync_folder(folder);
  } catch (...) {
    for (const fs::path& file : placed) fs::remove(file, error);
    fs::remove_all(staging, error);
    held->release_and_remove_if_created();
    throw;
  }
}

/// `out` as a folder path without a trailing separator.
fs::path folder_of(const fs::path& out) {
  std::error_code error;
  fs::path folder = fs::absolute(out, error).lexically_normal();
  if (!folder.has_filename()) folder = folder.parent_path();
  return folder;
}

}  // namespace

Error folder_in_use(const char* option, const fs::path& shown, const fs::path& lock) {
  return output_error(
      "{} {}: in use by {}; expected no other l2sweep writing it (wait for that one, or choose "
      "another {})",
      option, shown.string(), FileLock::holder(lock), option);
}

Error folder_not_empty(const char* option, const fs::path& folder, const std::string& advice) {
  return output_error(
      "{} {}: not empty; expected a new or empty folder (results are never overwritten){}", option,
      folder.string(), advice);
}

Error not_a_folder(const char* option, const fs::path& folder) {
  std::error_code error;
  const fs::file_status status = fs::status(folder, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    return output_error("{} {}: cannot use it as a folder ({}); expected a new or empty folder",
                        option, folder.string(), error.message());
  }
  if (fs::exists(status) && !fs::is_directory(status)) {
    return output_error("{} {}: exists and is not a folder; expected a new or empty folder", option,
                        folder.string());
  }
  return output_error("{} {}: cannot read it as a folder; expected a new or empty folder", option,
                      folder.string());
}

fs::path first_missing(const fs::path& folder) {
  std::error_code error;
  fs::path missing;
  for (fs::path at = fs::absolute(folder, error).lexically_normal();
       !at.empty() && at != at.parent_path(); at = at.parent_path()) {
    if (fs::exists(at, error)) break;
    missing = at;
  }
  return missing;
}

void check_publishable(const fs::path& out, const std::vector<PublishedFile>& files,
                       const char* option) {
  std::error_code error;
  const fs::file_status status = fs::status(out, error);
  if (error && error != std::errc::no_such_file_or_directory) throw not_a_folder(option, out);
  if (!fs::exists(status)) return;
  if (!fs::is_directory(status)) throw not_a_folder(option, out);
  if (!leftovers(out, files)) throw folder_not_empty(option, out);
  if (fs::exists(out / kFolderLockFile, error) &&
      !FileLock::try_lock(out / kFolderLockFile, FileLock::Mode::kShared)) {
    throw folder_in_use(option, out, out / kFolderLockFile);
  }
}

fs::path publish_folder(const fs::path& out, const std::vector<PublishedFile>& files,
                        const std::string& command, const char* option) {
  check_publishable(out, files, option);
  const fs::path folder = folder_of(out);
  std::error_code error;
  // The highest folder of the path that is missing: what this call creates, and removes again
  // (where still empty) when it fails.
  const fs::path created = first_missing(folder);
  try {
    if (!created.empty()) {
      create_folder(folder.parent_path());
      if (publish_new(out, folder, files, command, option)) return out;
      // Filled in place instead: created here unless another writer did meanwhile.
      if (!fs::exists(folder, error)) create_folder(folder);
    }
    publish_existing(out, folder, files, command, option);
  } catch (...) {
    for (fs::path at = folder; !created.empty(); at = at.parent_path()) {
      if (!fs::remove(at, error) || at == created || at == at.parent_path()) break;
    }
    throw;
  }
  return out;
}

}  // namespace l2sweep
