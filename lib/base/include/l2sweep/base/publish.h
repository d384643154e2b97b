#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/base/error.h"

namespace l2sweep {

/// One file of a folder published whole: its name in the folder and its bytes.
using PublishedFile = std::pair<std::string, std::string>;

/// The refusal of a writer whose output folder `shown` (given as `option`) another l2sweep
/// holds: its holder as recorded in `lock`. Every command that writes a folder says it so.
Error folder_in_use(const char* option, const std::filesystem::path& shown,
                    const std::filesystem::path& lock);

/// The one refusal of an output folder that is not new or empty, for every writer (a sweep,
/// a search, compare, l2sweep_trace): "OPTION FOLDER: not empty; expected a new or empty folder
/// (results are never overwritten)", then `advice` (e.g. "; add --resume to continue the sweep
/// there").
Error folder_not_empty(const char* option, const std::filesystem::path& folder,
                       const std::string& advice = "");

/// The refusal of an output path that cannot be a folder at all: not a folder, or one that
/// cannot be looked at (a name too long, a loop of links, no permission).
Error not_a_folder(const char* option, const std::filesystem::path& folder);

/// The highest folder of `folder`'s path that does not exist yet (`folder` itself when its
/// parent exists), or empty when `folder` exists: what creating it would add.
std::filesystem::path first_missing(const std::filesystem::path& folder);

/// Whether `out` could be published as `files` (publish_folder's checks, nothing written):
/// missing, or a folder holding nothing but l2sweep's leftovers and not written by another
/// l2sweep. An output Error naming `option` and the folder otherwise; for commands that work
/// long before they write (l2sweep_trace trains first).
void check_publishable(const std::filesystem::path& out, const std::vector<PublishedFile>& files,
                       const char* option = "--out");

/// Writes `files` as the folder `out`, for the commands whose outputs are known before they
/// write them (`l2sweep compare`, l2sweep_trace), under the sweep's one-writer lock
/// (kFolderLockFile, recorded as `command`), so that another l2sweep writing it is refused
/// naming its holder:
/// - a missing `out` appears whole or not at all: the files are written into a staging folder
///   beside it (`.l2sweep-staging.<crc of its name>.<host>.<pid>`, which holds the lock) and
///   renamed into place in one step; staging folders of dead processes of this host beside it
///   are removed first;
/// - an existing folder (a mount point, one set up with its owner and group, one whose parent
///   cannot be written) is filled in place: written into a staging folder inside it, then
///   renamed in file by file, the last of `files` last, so that a folder holding that one
///   holds them all. It must be empty but for l2sweep's leftovers, which include a killed
///   publish's files (some of `files`, never the last): the same command can always be rerun.
/// Every refusal and failure is an output Error naming `option` and the folder (or the file),
/// with nothing of this process left behind. Returns `out`.
std::filesystem::path publish_folder(const std::filesystem::path& out,
                                     const std::vector<PublishedFile>& files,
                                     const std::string& command, const char* option = "--out");

}  // namespace l2sweep
