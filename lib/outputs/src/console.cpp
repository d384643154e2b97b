#include "l2sweep/outputs/console.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "l2sweep/base/version.h"

namespace l2sweep {
namespace {

/// Redraw the progress bar at most this often; drawing every batch would slow training.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 30;

int digits(int64_t value) { return static_cast<int>(fmt::formatted_size("{}", value)); }

}  // namespace

void ConsoleReporter::on_sweep_begin(const SweepInfo& sweep) {
  sweep_ = sweep;
  print(
      "l2sweep {} (LibTorch {}) on {}, {} job(s) at a time: {} train / {} val / {} test "
      "examples, {}\n",
      kVersion, libtorch_version(), sweep.device, sweep.jobs, sweep.data.train_examples,
      sweep.data.val_examples, sweep.data.test_examples, sweep.config.data_dir);
  if (sweep.config.shard) {
    print("shard {}/{} of the sweep in {}\n", sweep.config.shard->index, sweep.config.shard->count,
          sweep.config.out_dir);
  } else {
    print("writing {}\n", sweep.config.out_dir);
  }
  std::fflush(out_);
}

void ConsoleReporter::on_run_start(const RunSpec& run, int64_t epochs) {
  pending_headers_[run.index] =
      fmt::format("== run {}/{}: {} seed={} ({} epochs) ==\n", run.index + 1, run.count,
                  setting_label(run), run.seed, epochs);
}

void ConsoleReporter::print_header(int64_t index) {
  const auto pending = pending_headers_.find(index);
  if (pending == pending_headers_.end()) return;
  erase_bar();
  print("{}", pending->second);
  pending_headers_.erase(pending);
}

void ConsoleReporter::on_epoch_restored(const RunSpec& run, const EpochMetrics& /*metrics*/) {
  ++restored_epochs_[run.index];
}

void ConsoleReporter::on_batch_end(const Cohort& /*cohort*/, int64_t epoch, int64_t step,
                                   int64_t steps) {
  if (!progress_bar_) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval && step != steps) {
    return;
  }
  last_draw_ = now;
  const int64_t epochs = sweep_.config.epochs;
  const auto filled = static_cast<int>(kBarWidth * step / steps);
  print("\r  epoch {:>{}}/{} [{:#<{}}{:.<{}}] {}/{} steps", epoch, digits(epochs), epochs, "",
        filled, "", kBarWidth - filled, step, steps);
  std::fflush(out_);
  bar_drawn_ = true;
}

void ConsoleReporter::erase_bar() {
  if (bar_drawn_) {
    print("\r\033[K");
    bar_drawn_ = false;
  }
}

void ConsoleReporter::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  print_header(run.index);
  erase_bar();
  const int64_t epochs = sweep_.config.epochs;
  std::string line = fmt::format("  {} seed={} epoch {:>{}}/{}", setting_label(run), run.seed,
                                 m.epoch, digits(epochs), epochs);
  for (const EpochMetricField& field : kEpochMetricFields) {
    if (field.console_format == nullptr) continue;
    // A value that rounds to zero prints as 0, not -0.
    line += "  " + fmt::format(fmt::runtime(field.console_format), m.*field.member + 0.0);
  }
  print("{}\n", line);
  std::fflush(out_);
}

void ConsoleReporter::on_run_end(const RunResult& result) {
  erase_bar();
  const int64_t restored = restored_epochs_[result.spec.index];
  if (pending_headers_.count(result.spec.index) > 0 && restored > 0 &&
      result.status != RunStatus::kInterrupted) {
    // Finished in an earlier process: one line, nothing printed as if trained now.
    pending_headers_.erase(result.spec.index);
    print("  {} seed={}: restored from its checkpoint ({} epochs, {}){}\n",
          setting_label(result.spec), result.spec.seed, restored, to_string(result.status),
          result.test ? fmt::format(", test_accuracy {}", fixed(result.test->accuracy, 4)) : "");
    std::fflush(out_);
    return;
  }
  print_header(result.spec.index);
  if (result.status == RunStatus::kInterrupted) {
    print("  {} seed={} interrupted after epoch {}\n", setting_label(result.spec), result.spec.seed,
          result.history.size());
  } else if (result.status == RunStatus::kDiverged) {
    print(
        "  {} seed={} DIVERGED at epoch {}: a loss, W1 or Adam's state is not finite; run "
        "stopped\n",
        setting_label(result.spec), result.spec.seed, result.history.back().epoch);
  } else if (result.test) {
    print("  {} seed={} test_loss {}  test_accuracy {}  ({:.1f}s)\n", setting_label(result.spec),
          result.spec.seed, fixed(result.test->loss, 4), fixed(result.test->accuracy, 4),
          result.train_seconds);
  }
  std::fflush(out_);
}

void ConsoleReporter::on_sweep_end(const SweepOutcome& outcome) {
  erase_bar();
  const std::string& out_dir = sweep_.config.out_dir;
  if (outcome.interrupted) {
    print("\ninterrupted: every completed epoch is saved in {}\n", out_dir);
    std::fflush(out_);
    return;
  }
  print("\n{}", final_tables(outcome.runs, sweep_.config, sweep_.data.num_classes));
  print("trained {} run(s) in {:.2f} s\n", outcome.runs.size(), outcome.seconds);
  if (const auto& shard = sweep_.config.shard) {
    print("shard {}/{} done; once every shard is: l2sweep merge {}\n", shard->index, shard->count,
          out_dir);
  } else {
    print("results in {}: metrics.csv, summary.json, report.md, tensorboard/\n", out_dir);
  }
  std::fflush(out_);
}

namespace {

/// The tables' first column: the strength alone ("l2") when every run differs by its L2 only,
/// else each run's setting_label ("setting").
struct SettingColumn {
  explicit SettingColumn(const std::vector<RunSpec>& runs) {
    for (const RunSpec& run : runs) labels = labels || run.dropout != 0 || run.weight_decay != 0;
    for (const RunSpec& run : runs) width = std::max(width, text(run).size());
  }
  const char* title() const { return labels ? "setting" : "l2"; }
  std::string text(const RunSpec& run) const {
    return labels ? setting_label(run) : fmt::format("{}", run.l2);
  }
  bool labels = false;
  size_t width = 10;
};

}  // namespace

std::string comparison_table(const std::vector<RunResult>& results) {
  constexpr const char* kRow =
      "{:>{}} {:>5} {:>9} {:>7} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}  {}\n";
  std::vector<RunSpec> specs;
  for (const auto& result : results) specs.push_back(result.spec);
  const SettingColumn column(specs);
  std::string table =
      fmt::format(kRow, column.title(), column.width, "seed", "status", "epochs", "loss",
                  "accuracy", "val_loss", "val_acc", "train-val", "test_acc", "w1_norm", "");
  for (const auto& result : results) {
    if (result.history.empty()) {
      continue;
    }
    const EpochMetrics& last = result.history.back();
    const double test_accuracy = result.test ? result.test->accuracy : std::nan("");
    table += fmt::format(
        kRow, column.text(result.spec), column.width, result.spec.seed, to_string(result.status),
        last.epoch, fixed(last.loss, 4), fixed(last.accuracy, 4), fixed(last.val_loss, 4),
        fixed(last.val_accuracy, 4), fixed(last.accuracy - last.val_accuracy, 4, true),
        fixed(test_accuracy, 4), fixed(last.w1_norm, 3), "");
  }
  return table;
}

std::string strength_table(const std::vector<SettingSummary>& strengths,
                           const Recommendation& recommendation) {
  constexpr const char* kRow = "{:>{}} {:>6} {:>17} {:>17} {:>17} {:>17} {:>15}  {}\n";
  std::vector<RunSpec> specs;
  for (const auto& s : strengths) specs.push_back(s.setting());
  const SettingColumn column(specs);
  std::string table = fmt::format(kRow, column.title(), column.width, "seeds", "train acc",
                                  "val acc", "test acc", "train-val", "w1_norm", "");
  for (size_t i = 0; i < strengths.size(); ++i) {
    const SettingSummary& s = strengths[i];
    table += fmt::format(kRow, column.text(s.setting()), column.width,
                         fmt::format("{}/{}", s.completed, s.runs), mean_std_text(s.accuracy),
                         mean_std_text(s.val_accuracy), mean_std_text(s.test_accuracy),
                         mean_std_text(s.train_minus_val_accuracy), mean_std_text(s.w1_norm, 3),
                         i == recommendation.recommended ? recommendation.mark : "");
  }
  return table;
}

std::string final_tables(const std::vector<RunResult>& runs, const SweepConfig& config,
                         int64_t classes) {
  std::string text = comparison_table(runs);
  const std::vector<SettingSummary> strengths = summarize_settings(runs);
  const Recommendation recommendation = recommend(strengths, config, classes);
  if (config.seeds > 1) {
    text += "\nacross seeds (mean ± std):\n" + strength_table(strengths, recommendation);
  }
  return text + "\n" + recommendation_text(recommendation) + "\n";
}

}  // namespace l2sweep
