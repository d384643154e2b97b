#include "l2sweep/console.h"

#include <fmt/format.h>

#include <cmath>

namespace l2sweep {
namespace {

/// Redraw the progress bar at most this often; drawing every batch would slow training.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 30;

int digits(int64_t value) { return static_cast<int>(fmt::formatted_size("{}", value)); }

}  // namespace

void ConsoleReporter::on_run_start(const RunSpec& run, int64_t epochs) {
  epochs_ = epochs;
  fmt::print(out_, "== run {}/{}: l2={} seed={} ({} epochs) ==\n", run.index + 1, run.count, run.l2,
             run.seed, epochs);
  std::fflush(out_);
}

void ConsoleReporter::on_batch_end(const RunSpec& /*run*/, int64_t epoch, int64_t batch,
                                   int64_t batches) {
  if (!progress_bar_) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval && batch != batches) {
    return;
  }
  last_draw_ = now;
  const auto filled = static_cast<int>(kBarWidth * batch / batches);
  fmt::print(out_, "\r  epoch {:>{}}/{} [{:#<{}}{:.<{}}] {}/{} batches", epoch, digits(epochs_),
             epochs_, "", filled, "", kBarWidth - filled, batch, batches);
  std::fflush(out_);
  bar_drawn_ = true;
}

void ConsoleReporter::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  if (bar_drawn_) {
    fmt::print(out_, "\r\033[K");  // erase the progress bar
    bar_drawn_ = false;
  }
  fmt::print(out_,
             "  l2={} seed={} epoch {:>{}}/{}  loss {:.4f}  accuracy {:.4f}  val_loss {:.4f}  "
             "val_accuracy {:.4f}  data_loss {:.4f}  val_data_loss {:.4f}  w1_norm {:.3f}  "
             "{:.1f}s\n",
             run.l2, run.seed, m.epoch, digits(epochs_), epochs_, m.loss, m.accuracy, m.val_loss,
             m.val_accuracy, m.data_loss, m.val_data_loss, m.w1_norm, m.epoch_seconds);
  std::fflush(out_);
}

void ConsoleReporter::on_run_end(const RunResult& result) {
  if (result.status == RunStatus::kInterrupted) {
    if (bar_drawn_) {
      fmt::print(out_, "\r\033[K");
      bar_drawn_ = false;
    }
    fmt::print(out_, "  l2={} seed={} interrupted after epoch {}\n", result.spec.l2,
               result.spec.seed, result.history.size());
  } else if (result.status == RunStatus::kDiverged) {
    fmt::print(out_, "  l2={} DIVERGED at epoch {}: a loss or W1 is not finite; run stopped\n",
               result.spec.l2, result.history.back().epoch);
  } else if (result.test) {
    fmt::print(out_, "  l2={} test_loss {:.4f}  test_accuracy {:.4f}  ({:.1f}s)\n", result.spec.l2,
               result.test->loss, result.test->accuracy, result.train_seconds);
  }
  std::fflush(out_);
}

std::string comparison_table(const std::vector<RunResult>& results) {
  const RunResult* best = nullptr;
  for (const auto& result : results) {
    if (result.status == RunStatus::kCompleted &&
        (best == nullptr ||
         result.history.back().val_accuracy > best->history.back().val_accuracy)) {
      best = &result;
    }
  }
  constexpr const char* kRow =
      "{:>10} {:>5} {:>9} {:>7} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}  {}\n";
  std::string table = fmt::format(kRow, "l2", "seed", "status", "epochs", "loss", "accuracy",
                                  "val_loss", "val_acc", "train-val", "test_acc", "w1_norm", "");
  for (const auto& result : results) {
    if (result.history.empty()) {
      continue;
    }
    const EpochMetrics& last = result.history.back();
    const double test_accuracy = result.test ? result.test->accuracy : std::nan("");
    table +=
        fmt::format(kRow, result.spec.l2, result.spec.seed, to_string(result.status), last.epoch,
                    fmt::format("{:.4f}", last.loss), fmt::format("{:.4f}", last.accuracy),
                    fmt::format("{:.4f}", last.val_loss), fmt::format("{:.4f}", last.val_accuracy),
                    fmt::format("{:+.4f}", last.accuracy - last.val_accuracy),
                    fmt::format("{:.4f}", test_accuracy), fmt::format("{:.3f}", last.w1_norm),
                    &result == best ? "* best val_accuracy" : "");
  }
  return table;
}

}  // namespace l2sweep
