#include "l2sweep/compare/command.h"

#include <fmt/format.h>

#include <string>
#include <system_error>
#include <vector>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/publish.h"
#include "l2sweep/compare/comparison.h"
#include "l2sweep/compare/report.h"

namespace l2sweep::compare {
namespace fs = std::filesystem;
namespace {

/// Publishes `files` as a new folder runs/compare-<UTC timestamp>, or -2, -3, ... when another
/// comparison took the name; returns the folder.
fs::path publish_new_folder(const std::vector<PublishedFile>& files, const std::string& command) {
  const fs::path base = fs::path("runs") / ("compare-" + utc_now("%Y%m%dT%H%M%SZ"));
  std::error_code error;
  fs::path published;
  for (int attempt = 1; published.empty(); ++attempt) {
    const fs::path out =
        attempt == 1 ? base : fs::path(fmt::format("{}-{}", base.string(), attempt));
    if (fs::exists(out, error)) continue;
    try {
      published = publish_folder(out, files, command);
    } catch (const Error&) {
      if (!fs::exists(out, error) || attempt >= 1000) throw;  // not a name taken meanwhile
    }
  }
  return published;
}

}  // namespace

CompareResult run_compare(const CompareOptions& options, const std::string& command,
                          std::FILE* console) {
  // Everything that can be refused is decided before the folder is created.
  const Comparison comparison =
      compare_sources(read_sources(options.arguments), options.metric, options.ignore);
  const std::vector<PublishedFile> files = {
      {"compare.csv", compare_csv(comparison)},
      {"curves.csv", curves_csv(comparison)},
      {"compare.json", compare_json(comparison, command)},
      {"compare.md", compare_markdown(comparison, command)},
  };
  CompareResult result;
  // Whole or not at all, and one writer at a time: a second comparison into the same folder
  // is refused, a killed one leaves no partial folder (publish_folder).
  result.out_dir = !options.out.empty() ? publish_folder(options.out, files, command)
                                        : publish_new_folder(files, command);
  const std::string text =
      compare_console_text(comparison) +
      fmt::format("wrote {}: compare.md, compare.csv, curves.csv, compare.json\n",
                  result.out_dir.string());
  std::fputs(text.c_str(), console);
  return result;
}

}  // namespace l2sweep::compare
