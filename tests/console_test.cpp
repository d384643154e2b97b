#include "l2sweep/outputs/console.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "l2sweep/base/stop_token.h"

namespace l2sweep {
namespace {

/// What a terminal shows after `output`: printable text, newlines, and the two controls the
/// live display uses, "ESC[nF" (up n lines, to their start) and "ESC[J" (clear below).
std::vector<std::string> screen_after(const std::string& output) {
  std::vector<std::string> screen(1);
  size_t row = 0;
  for (size_t i = 0; i < output.size(); ++i) {
    if (output[i] == '\n') {
      if (++row == screen.size()) screen.emplace_back();
    } else if (output.compare(i, 2, "\033[") == 0) {
      const size_t end = output.find_first_of("FJ", i);
      if (output[end] == 'F') {
        const int up = std::stoi(output.substr(i + 2, end - i - 2));
        EXPECT_LE(static_cast<size_t>(up), row) << "the redraw climbs above the screen";
        row -= std::min(row, static_cast<size_t>(up));
        screen[row].clear();
      } else {
        screen.resize(row + 1);
        screen[row].clear();
      }
      i = end;
    } else {
      screen[row] += output[i];
    }
  }
  return screen;
}

std::string contents(std::FILE* file) {
  std::rewind(file);
  std::string text;
  for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) text += static_cast<char>(c);
  return text;
}

size_t count_lines_with(const std::vector<std::string>& screen, const std::string& text) {
  size_t count = 0;
  for (const std::string& line : screen) count += line.find(text) != std::string::npos;
  return count;
}

/// Drives a reporter through a sweep of `runs` runs (one cohort, 2 epochs of 4 batches),
/// the stop requested before the runs end when `stop` is set, and returns what it wrote.
std::string sweep_output(bool live, int runs, bool stop = false) {
  std::FILE* file = std::tmpfile();
  StopSource stop_source;
  ConsoleReporter console(file, live, stop_source.token());
  SweepInfo info;
  info.config.epochs = 2;
  info.config.out_dir = "runs/test";
  info.device = "cpu";
  info.runs = runs;
  info.command_line = "l2sweep --epochs 2";
  console.on_sweep_begin(info);
  Cohort cohort;
  for (int r = 0; r < runs; ++r) {
    RunSpec spec;
    spec.l2 = 0.001 * r;
    spec.index = r;
    spec.count = runs;
    cohort.runs.push_back(spec);
    console.on_run_start(spec, 2);
  }
  std::vector<RunResult> results;
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    for (int64_t step = 1; step <= 4; ++step) console.on_batch_end(cohort, epoch, step, 4);
    for (const RunSpec& spec : cohort.runs) {
      EpochMetrics m;
      m.epoch = epoch;
      m.loss = 0.5;
      m.accuracy = 0.8;
      m.val_loss = 0.6;
      m.val_accuracy = 0.75;
      console.on_epoch_end(spec, m);
    }
  }
  if (stop) stop_source.request_stop();
  for (const RunSpec& spec : cohort.runs) {
    RunResult result;
    result.spec = spec;
    EpochMetrics m;
    m.epoch = 2;
    result.history = {m, m};
    results.push_back(result);
    console.on_run_end(result);
  }
  SweepOutcome outcome;
  outcome.runs = results;
  console.on_sweep_end(outcome);
  const std::string text = contents(file);
  std::fclose(file);
  return text;
}

TEST(Console, TheLiveBlockIsErasedWholeAndTheRunsEndLinesStay) {
  const std::vector<std::string> screen = screen_after(sweep_output(true, 3));
  EXPECT_EQ(count_lines_with(screen, "runs done"), 0U) << "the overall line was left behind";
  EXPECT_EQ(count_lines_with(screen, "\u2588"), 0U) << "a run's live line was left behind";
  EXPECT_EQ(count_lines_with(screen, "\u00b7"), 0U) << "a run's live line was left behind";
  for (const char* name :
       {"[1/3] l2=0 seed=0: done", "[2/3] l2=0.001 seed=0: done", "[3/3] l2=0.002 seed=0: done"}) {
    EXPECT_EQ(count_lines_with(screen, name), 1U) << name;
  }
  EXPECT_EQ(count_lines_with(screen, "results in runs/test:"), 1U);
}

TEST(Console, AnOversizedBlockIsCutToTheScreen) {
  // A file has no window size: the display assumes 24 rows.
  const std::string output = sweep_output(true, 30);
  EXPECT_NE(output.find("... and 10 more running"), std::string::npos);
  const std::vector<std::string> screen = screen_after(output);
  EXPECT_EQ(count_lines_with(screen, "runs done"), 0U);
  EXPECT_EQ(count_lines_with(screen, ": done in"), 30U);
}

TEST(Console, ALiveDisplaySaysItselfThatAStopWasAsked) {
  const std::vector<std::string> screen = screen_after(sweep_output(true, 2, true));
  EXPECT_EQ(count_lines_with(screen, "stopping at the next batch"), 1U);
  EXPECT_EQ(count_lines_with(screen, "runs done"), 0U);
}

TEST(Console, PlainLinesNumberRunsAsTheyStartAndHoldNoControlCodes) {
  const std::string output = sweep_output(false, 3);
  EXPECT_EQ(output.find('\033'), std::string::npos);
  const size_t first = output.find("[1/3] l2=0 seed=0: started, 2 epochs");
  const size_t second = output.find("[2/3] l2=0.001 seed=0: started");
  ASSERT_NE(first, std::string::npos) << output;
  ASSERT_NE(second, std::string::npos) << output;
  EXPECT_LT(first, second);
  EXPECT_NE(output.find("[3/3] epoch 2/2  loss 0.5000  acc 0.8000  val_loss 0.6000  val_acc "
                        "0.7500"),
            std::string::npos)
      << output;
  EXPECT_EQ(output.find("stopping at the next batch"), std::string::npos);
}

}  // namespace
}  // namespace l2sweep
