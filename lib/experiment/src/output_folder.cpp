#include "l2sweep/experiment/output_folder.h"

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/config/sweep_file.h"

namespace l2sweep {
namespace fs = std::filesystem;

fs::path default_output_folder() { return fs::path("runs") / utc_now("%Y%m%dT%H%M%SZ"); }

void prepare_output_folder(const fs::path& folder) {
  std::error_code error;
  if (fs::exists(folder, error)) {
    if (!fs::is_directory(folder, error)) {
      throw output_error("--out {}: exists and is not a folder; expected a new or empty folder",
                         folder.string());
    }
    if (!fs::is_empty(folder, error)) {
      throw output_error(
          "--out {}: folder is not empty; choose a new folder (results are never overwritten)",
          folder.string());
    }
  }
  fs::create_directories(folder, error);
  if (error) {
    throw output_error("--out {}: cannot create folder ({})", folder.string(), error.message());
  }
}

void open_output_folder(const SweepConfig& config, const fs::path& folder) {
  const fs::path saved = folder / kSweepConfigFile;
  if (config.resume || (config.shard && fs::exists(saved))) {
    check_resume_config(folder, config);
    return;
  }
  if (config.shard) {
    create_folder(folder);
  } else {
    prepare_output_folder(folder);
  }
  // Shards starting together write identical bytes, each by an atomic rename.
  write_file_atomically(saved, sweep_config_text(config));
}

}  // namespace l2sweep
