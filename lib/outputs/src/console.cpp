#include "l2sweep/outputs/console.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "l2sweep/base/version.h"

namespace l2sweep {
namespace {

/// Redraw the live block at most this often; drawing every batch would slow training.
constexpr auto kRedrawInterval = std::chrono::milliseconds(200);
constexpr int kBarWidth = 10;
/// Plain lines fit this many columns; live lines fit the terminal.
constexpr size_t kPlainColumns = 100;

int digits(int64_t value) { return static_cast<int>(fmt::formatted_size("{}", value)); }

/// "1:05", "12:40", "1:02:03".
std::string clock_text(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (total >= 3600) {
    return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  }
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

/// The terminal's width and height, or 100 x 24 when it cannot tell.
std::pair<size_t, size_t> terminal_size(std::FILE* out) {
  winsize size{};
  if (::ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col >= 20 && size.ws_row >= 4) {
    return {size.ws_col, size.ws_row};
  }
  return {kPlainColumns, 24};
}

/// The columns `line` takes: its UTF-8 characters (the bar's blocks count one each).
size_t display_width(const std::string& line) {
  return static_cast<size_t>(std::count_if(line.begin(), line.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

/// `line` cut to `columns` (a live line must not wrap, or the redraw would climb too few
/// lines); lines are ASCII but for the bar's blocks, which count one column each.
std::string fit(const std::string& line, size_t columns) {
  size_t shown = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const auto byte = static_cast<unsigned char>(line[i]);
    if ((byte & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte
    if (++shown > columns) return line.substr(0, i);
  }
  return line;
}

/// The epoch line's metrics (kEpochMetricFields' console formats), each "name value"; `live`:
/// validation first, without the epoch's seconds.
std::vector<std::string> metric_parts(const EpochMetrics& m, bool live) {
  std::vector<std::string> parts;
  for (const EpochMetricField& field : kEpochMetricFields) {
    if (field.console_format == nullptr) continue;
    if (live && field.member == &EpochMetrics::epoch_seconds) continue;
    // A value that rounds to zero prints as 0, not -0.
    parts.push_back(fmt::format(fmt::runtime(field.console_format), m.*field.member + 0.0));
  }
  if (live) std::reverse(parts.begin(), parts.end());  // val_acc val_loss acc loss
  return parts;
}

std::string metrics_text(const EpochMetrics& m) {
  std::string text;
  for (const std::string& part : metric_parts(m, false)) text += (text.empty() ? "" : "  ") + part;
  return text;
}

}  // namespace

/// Where the source tree's plot script is when this binary runs from its build folder
/// (build/bin/l2sweep), as a path to type from the current folder; empty elsewhere.
std::string plot_script() {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error) return {};
  const fs::path script = exe.parent_path().parent_path().parent_path() / "scripts/plot_curves.py";
  if (!fs::is_regular_file(script, error)) return {};
  const fs::path relative = fs::relative(script, fs::current_path(error), error);
  if (error || relative.empty() || *relative.begin() == "..") return script.string();
  return relative.string();
}

bool ConsoleReporter::can_redraw(std::FILE* out) {
  const char* term = std::getenv("TERM");
  return ::isatty(fileno(out)) == 1 && term != nullptr && *term != '\0' &&
         std::string(term) != "dumb";
}

void ConsoleReporter::announce_stop() {
  if (!live_ || stop_announced_ || !stop_.stop_requested()) return;
  stop_announced_ = true;
  erase_block();
  write("stopping at the next batch; press Ctrl-C again to quit at once\n");
}

void ConsoleReporter::write(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size()) std::clearerr(out_);
  std::fflush(out_);
}

std::string ConsoleReporter::tag(const RunState& run) const {
  return fmt::format("[{:>{}}/{}]", run.number, digits(total_runs_), total_runs_);
}

void ConsoleReporter::on_sweep_begin(const SweepInfo& sweep) {
  sweep_ = sweep;
  total_runs_ = sweep.runs;
  const int64_t runs = sweep.runs;
  // How the runs share the cores (describe_sweep's words; without them, the job count).
  const std::string pace =
      sweep.pace.empty() ? fmt::format("{} at a time", sweep.jobs) : sweep.pace;
  write(
      fmt::format("l2sweep {} (LibTorch {}) on {}: {} run{} of {} epochs, {}\n"
                  "data: {} train / {} val / {} test, {}\n",
                  kVersion, libtorch_version(), sweep.device, runs, runs == 1 ? "" : "s",
                  sweep.config.epochs, pace, sweep.data.train_examples, sweep.data.val_examples,
                  sweep.data.test_examples, sweep.config.data_dir));
  if (sweep.config.shard) {
    write(fmt::format("shard {}/{} of the sweep in {}\n", sweep.config.shard->index,
                      sweep.config.shard->count, sweep.config.out_dir));
  } else {
    write(fmt::format("writing {}\n", sweep.config.out_dir));
  }
}

void ConsoleReporter::on_run_start(const RunSpec& run, int64_t /*epochs*/) {
  RunState state;
  state.spec = run;
  runs_[run.index] = state;
}

void ConsoleReporter::number(RunState& run) {
  if (run.number > 0) return;
  run.number = ++started_;
  total_runs_ = std::max(total_runs_, started_);
}

void ConsoleReporter::print_header(RunState& run) {
  if (run.header_printed) return;
  run.header_printed = true;
  number(run);
  if (live_) return;
  const int64_t restored = run.epochs_done;
  write(fmt::format("{} {} seed={}: {}\n", tag(run), setting_label(run.spec), run.spec.seed,
                    restored > 0
                        ? fmt::format("resumed at epoch {}/{}", restored + 1, sweep_.config.epochs)
                        : fmt::format("started, {} epochs", sweep_.config.epochs)));
}

void ConsoleReporter::on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) {
  RunState& state = runs_[run.index];
  state.epochs_done = metrics.epoch;
  state.done = static_cast<double>(metrics.epoch) / static_cast<double>(sweep_.config.epochs);
  state.last = metrics;
}

void ConsoleReporter::on_batch_end(const Cohort& cohort, int64_t epoch, int64_t step,
                                   int64_t steps) {
  const auto now = Clock::now();
  const double epochs = static_cast<double>(sweep_.config.epochs);
  for (const RunSpec& spec : cohort.runs) {
    RunState& run = runs_[spec.index];
    if (!run.running) continue;
    run.done = (static_cast<double>(epoch - 1) + static_cast<double>(step) / steps) / epochs;
    if (!run.done_at_start) {
      run.done_at_start = run.done;
      run.start = now;
      print_header(run);
    }
  }
  if (!batch_seen_) {
    batch_seen_ = true;
    overall_start_ = now;
  }
  if (live_ && now - last_draw_ >= kRedrawInterval) redraw();
}

void ConsoleReporter::on_epoch_end(const RunSpec& spec, const EpochMetrics& m) {
  RunState& run = runs_[spec.index];
  print_header(run);
  run.epochs_done = m.epoch;
  run.done = static_cast<double>(m.epoch) / static_cast<double>(sweep_.config.epochs);
  run.last = m;
  if (live_) {
    redraw();
    return;
  }
  const int64_t epochs = sweep_.config.epochs;
  write(fmt::format("{} epoch {:>{}}/{}  {}\n", tag(run), m.epoch, digits(epochs), epochs,
                    metrics_text(m)));
}

void ConsoleReporter::on_run_end(const RunResult& result) {
  RunState& run = runs_[result.spec.index];
  number(run);
  const std::string name =
      fmt::format("{} {} seed={}", tag(run), setting_label(result.spec), result.spec.seed);
  run.running = false;
  ++ended_;
  std::string line;
  if (!run.done_at_start && run.epochs_done > 0 && result.status != RunStatus::kInterrupted) {
    // Finished in an earlier process: one line, nothing printed as if trained now.
    line = fmt::format(
        "{}: restored from its checkpoint ({} epochs, {}){}", name, run.epochs_done,
        to_string(result.status),
        result.test ? fmt::format(", test_acc {}", fixed(result.test->accuracy, 4)) : "");
  } else if (result.status == RunStatus::kInterrupted) {
    line = fmt::format("{}: interrupted after epoch {}", name, result.history.size());
  } else if (result.status == RunStatus::kDiverged) {
    line = fmt::format(
        "{}: DIVERGED at epoch {}: a loss, W1 or Adam's state is not finite; run stopped", name,
        result.history.back().epoch);
  } else {
    const EpochMetrics& last = result.history.back();
    line = fmt::format("{}: done in {:.1f}s  val_acc {}", name, result.train_seconds,
                       fixed(last.val_accuracy, 4));
    if (result.test) line += fmt::format("  test_acc {}", fixed(result.test->accuracy, 4));
  }
  print_lines(line + "\n");
}

void ConsoleReporter::print_lines(const std::string& text) {
  // Above the live block, whole: a wrapped line scrolls up with the rest.
  announce_stop();
  erase_block();
  write(text);
  redraw();
}

std::optional<double> ConsoleReporter::seconds_left(const RunState& run,
                                                    Clock::time_point now) const {
  if (!run.done_at_start || run.done <= *run.done_at_start) return std::nullopt;
  const double elapsed = std::chrono::duration<double>(now - run.start).count();
  return elapsed * (1 - run.done) / (run.done - *run.done_at_start);
}

std::optional<double> ConsoleReporter::overall_seconds_left(Clock::time_point now) const {
  // The pace of this process (restored epochs are not its work), and what is left of the
  // runs still to finish: an ended run, diverged or not, has nothing left.
  double trained = 0;
  double remaining = 0;
  int64_t known = 0;
  for (const auto& [index, run] : runs_) {
    ++known;
    if (run.done_at_start) trained += run.done - *run.done_at_start;
    if (run.running) remaining += 1 - run.done;
  }
  remaining += static_cast<double>(std::max<int64_t>(0, total_runs_ - known));
  const double elapsed = std::chrono::duration<double>(now - overall_start_).count();
  if (!batch_seen_ || trained <= 0 || elapsed <= 0) return std::nullopt;
  return remaining * elapsed / trained;
}

std::vector<std::string> ConsoleReporter::block(size_t columns) const {
  const auto now = Clock::now();
  const int64_t epochs = sweep_.config.epochs;
  size_t name_width = 0;
  std::vector<const RunState*> running;
  for (const auto& [index, run] : runs_) {
    name_width = std::max(
        name_width, fmt::formatted_size("{} seed={}", setting_label(run.spec), run.spec.seed));
    if (run.running && run.done_at_start) running.push_back(&run);
  }
  std::sort(running.begin(), running.end(),
            [](const RunState* a, const RunState* b) { return a->number < b->number; });
  std::vector<std::string> lines;
  for (const RunState* run : running) {
    const double epoch_done = run->done * static_cast<double>(epochs) -
                              static_cast<double>(std::min(run->epochs_done, epochs - 1));
    const int filled = std::clamp(static_cast<int>(epoch_done * kBarWidth), 0, kBarWidth);
    std::string bar;
    for (int i = 0; i < kBarWidth; ++i) bar += i < filled ? "\u2588" : "\u00b7";
    const auto left = seconds_left(*run, now);
    // What matters most comes first; the metrics follow while whole ones fit the terminal.
    std::string line =
        fmt::format("{} {:<{}}  epoch {:>{}}/{} {:>10}  {}", tag(*run),
                    fmt::format("{} seed={}", setting_label(run->spec), run->spec.seed), name_width,
                    std::min(run->epochs_done + 1, epochs), digits(epochs), epochs,
                    left ? clock_text(*left) + " left" : std::string(), bar);
    if (run->last) {
      size_t width = display_width(line);
      for (const std::string& part : metric_parts(*run->last, true)) {
        if (width + 2 + part.size() > columns) break;
        line += "  " + part;
        width += 2 + part.size();
      }
    }
    lines.push_back(std::move(line));
  }
  const auto left = overall_seconds_left(now);
  const double elapsed = std::chrono::duration<double>(now - overall_start_).count();
  lines.push_back(fmt::format("{} of {} runs done{}, {} elapsed", ended_, total_runs_,
                              left ? ", about " + clock_text(*left) + " left" : std::string(),
                              clock_text(elapsed)));
  return lines;
}

void ConsoleReporter::erase_block() {
  if (drawn_lines_ == 0) return;
  write(fmt::format("\033[{}F\033[J", drawn_lines_));
  drawn_lines_ = 0;
}

void ConsoleReporter::redraw() {
  if (!live_ || !batch_seen_) return;
  announce_stop();
  last_draw_ = Clock::now();
  // Lines neither wrap nor outgrow the screen: the redraw climbs exactly the lines it drew.
  const auto [columns, rows] = terminal_size(out_);
  std::vector<std::string> lines = block(columns - 1);
  for (std::string& line : lines) line = fit(line, columns - 1);
  const size_t room = rows - 2;
  if (lines.size() > room) {
    const size_t hidden = lines.size() - room + 1;
    lines.erase(lines.end() - 1 - static_cast<std::ptrdiff_t>(hidden), lines.end() - 1);
    lines.insert(lines.end() - 1, fmt::format("... and {} more running", hidden));
  }
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  erase_block();
  write(out);
  drawn_lines_ = static_cast<int>(lines.size());
}

std::string ConsoleReporter::next_steps() const {
  const std::string& out = sweep_.config.out_dir;
  std::string text = fmt::format(
      "results in {}:\n"
      "  metrics.csv, summary.json, report.md (which setting to use, and why),\n"
      "  tensorboard/ (TensorBoard logs and Keras CSVLogger files)\n",
      out);
  const char* plotted_by = std::getenv("L2SWEEP_PLOTTED_BY");
  const std::string script = plot_script();
  text += "next:\n";
  if (plotted_by != nullptr && *plotted_by != '\0') {
    text += fmt::format("  the curves: {} draws {}/curves.png now\n", plotted_by, out);
  } else if (!script.empty()) {
    text += fmt::format(
        "  the curves: {} {}\n              (or: tensorboard --logdir {}/tensorboard)\n", script,
        out, out);
  } else {
    text += fmt::format("  the curves: tensorboard --logdir {}/tensorboard\n", out);
  }
  const std::string& command = sweep_.command_line;
  const std::string binary = command.substr(0, command.find(' '));
  text += fmt::format(
      "  compare with your Keras logs (CSVLogger files; docs/comparing.md):\n"
      "    {} compare {} --source keras 'keras/l2-{{l2}}_seed-{{seed}}.csv'\n",
      binary.empty() ? "l2sweep" : binary, out);
  return text;
}

void ConsoleReporter::on_sweep_end(const SweepOutcome& outcome) {
  erase_block();
  live_ = false;
  const std::string& out_dir = sweep_.config.out_dir;
  if (outcome.interrupted) {
    write(fmt::format("\ninterrupted: every completed epoch is saved in {}\n", out_dir));
    return;
  }
  write(fmt::format("\n{}", final_tables(outcome.runs, sweep_.config, sweep_.data.num_classes)));
  write(fmt::format("trained {} run{} in {:.2f} s\n", outcome.runs.size(),
                    outcome.runs.size() == 1 ? "" : "s", outcome.seconds));
  if (const auto& shard = sweep_.config.shard) {
    write(fmt::format("shard {}/{} done; once every shard is: l2sweep merge {}\n", shard->index,
                      shard->count, out_dir));
  } else if (sweep_.config.part_of_search) {
    write(fmt::format("round results in {}\n", out_dir));
  } else {
    write(next_steps());
  }
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
  std::vector<RunSpec> specs;
  for (const auto& result : results) specs.push_back(result.spec);
  const SettingColumn column(specs);
  // Status and epochs only when some run did not complete: the table then fits 80 columns.
  const bool all_completed = std::all_of(results.begin(), results.end(), [](const RunResult& r) {
    return r.history.empty() || r.status == RunStatus::kCompleted;
  });
  const auto row = [&](const std::string& setting, const std::string& seed,
                       const std::string& status, const std::string& epochs,
                       const std::vector<std::string>& numbers) {
    std::string line = fmt::format("{:>{}} {:>4}", setting, column.width, seed);
    if (!all_completed) line += fmt::format(" {:>11} {:>6}", status, epochs);
    for (const std::string& number : numbers) line += fmt::format(" {:>8}", number);
    return line + "\n";
  };
  std::string table =
      row(column.title(), "seed", "status", "epochs",
          {"loss", "accuracy", "val_loss", "val_acc", "train-val", "test_acc", "w1_norm"});
  for (const auto& result : results) {
    if (result.history.empty()) continue;
    const EpochMetrics& last = result.history.back();
    const double test_accuracy = result.test ? result.test->accuracy : std::nan("");
    table += row(column.text(result.spec), fmt::format("{}", result.spec.seed),
                 to_string(result.status), fmt::format("{}", last.epoch),
                 {fixed(last.loss, 4), fixed(last.accuracy, 4), fixed(last.val_loss, 4),
                  fixed(last.val_accuracy, 4), fixed(last.accuracy - last.val_accuracy, 4, true),
                  fixed(test_accuracy, 4), fixed(last.w1_norm, 3)});
  }
  return table;
}

std::string strength_table(const std::vector<SettingSummary>& strengths,
                           const Recommendation& recommendation) {
  // The recommended row is starred, and the star explained below the table: a mark at the
  // end of the row would push it past 100 columns.
  // Training accuracy is in report.md and summary.json: without it the table fits 80 columns.
  constexpr const char* kRow = "{:>{}}{:1} {:>5} {:>15} {:>15} {:>16} {:>13}\n";
  std::vector<RunSpec> specs;
  for (const auto& s : strengths) specs.push_back(s.setting());
  const SettingColumn column(specs);
  std::string table = fmt::format(kRow, column.title(), column.width, "", "seeds", "val acc",
                                  "test acc", "train-val acc", "w1_norm");
  bool starred = false;
  for (size_t i = 0; i < strengths.size(); ++i) {
    const SettingSummary& s = strengths[i];
    const bool recommended = i == recommendation.recommended && !recommendation.mark.empty();
    starred = starred || recommended;
    table += fmt::format(kRow, column.text(s.setting()), column.width, recommended ? "*" : "",
                         fmt::format("{}/{}", s.completed, s.runs), mean_std_text(s.val_accuracy),
                         mean_std_text(s.test_accuracy), mean_std_text(s.train_minus_val_accuracy),
                         mean_std_text(s.w1_norm, 2));
  }
  if (starred) {
    const std::string& mark = recommendation.mark;
    table += fmt::format("* {}\n", mark.rfind("<- ", 0) == 0 ? mark.substr(3) : mark);
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
