#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace l2sweep {

/// One file of a folder published whole: its name in the folder and its bytes.
using PublishedFile = std::pair<std::string, std::string>;

/// Writes `files` as the folder `out`, whole or not at all, for the commands whose outputs are
/// known before they write them (`l2sweep compare`, l2sweep_trace):
/// - `out` must be missing, or a folder empty but for l2sweep's lock files and temporary
///   files; an existing one is locked first with the sweep's one-writer lock
///   (kFolderLockFile), so another l2sweep writing it is refused naming its holder;
/// - the files are written into a staging folder beside `out`
///   (`.<name>.l2sweep-staging.<host>.<pid>`, which holds the lock, recorded as `command`),
///   then renamed onto it in one step: a reader, a second writer or a kill sees no comparison
///   or all of it;
/// - staging folders that killed processes of this host left for `out` are removed first, so
///   the same command can always be rerun.
/// Every refusal and failure is an output Error naming `option` and the folder, with nothing
/// of this process left behind. Returns the folder written.
std::filesystem::path publish_folder(const std::filesystem::path& out,
                                     const std::vector<PublishedFile>& files,
                                     const std::string& command, const char* option = "--out");

}  // namespace l2sweep
