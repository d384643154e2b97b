// `l2sweep compare`: the readers on files real Keras wrote (tests/fixtures/keras, made by
// scripts/keras_runs.py) and on hand-made older formats, pairing, the statistics on cases
// with known answers (scipy's values), the verdicts, and every refusal.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "cli.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/compare/comparison.h"
#include "l2sweep/compare/readers.h"
#include "l2sweep/compare/report.h"
#include "l2sweep/compare/sources.h"
#include "l2sweep/compare/tfevents.h"
#include "l2sweep/experiment/experiment.h"
#include "l2sweep/outputs/tensorboard.h"
#include "l2sweep/stats/statistics.h"
#include "test_support.h"

namespace l2sweep::compare {
namespace {
namespace fs = std::filesystem;
using l2sweep::testing::TempDir;

const fs::path kKeras = L2SWEEP_KERAS_FIXTURES_DIR;

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

RunLabel label(double l2, std::optional<int64_t> seed = std::nullopt) {
  RunLabel result;
  result.l2 = l2;
  result.seed = seed;
  return result;
}

/// An l2sweep metrics.csv with `epochs` rows per (l2, seed); val_accuracy of the last epoch is
/// final(l2, seed), the other values follow a simple curve.
template <typename Final>
void write_sweep(const fs::path& folder, const std::vector<double>& strengths,
                 const std::vector<uint64_t>& seeds, int epochs, Final final_value) {
  std::string csv = "l2,seed,epoch,loss,accuracy,val_loss,val_accuracy,w1_norm,epoch_seconds\n";
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    for (const double l2 : strengths) {
      for (const uint64_t seed : seeds) {
        const double val_accuracy =
            final_value(l2, static_cast<int64_t>(seed % 1000)) - 0.01 * (epochs - epoch);
        csv += fmt::format("{},{},{},{},{},{},{},{},0.5\n", l2, seed, epoch, 1.0 / epoch,
                           0.8 + 0.01 * epoch, 0.5 + l2, val_accuracy, 10.0 - epoch);
      }
    }
  }
  write_text(folder / "metrics.csv", csv);
}

std::vector<Source> sweeps(const std::vector<fs::path>& folders) {
  std::vector<SourceArgument> arguments;
  for (const fs::path& folder : folders) arguments.push_back({"", folder.string(), std::nullopt});
  return read_sources(arguments);
}

const StrengthVerdict& verdict_at(const Comparison& c, double l2) {
  for (const StrengthVerdict& v : c.verdicts) {
    if (v.l2 == l2) return v;
  }
  throw std::runtime_error("no verdict");
}

// --- statistics, against scipy.stats (1.10) ---

TEST(CompareStatistics, StudentTMatchesScipy) {
  EXPECT_NEAR(student_t_two_sided_p(2.5, 3), 0.08770664700806555, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(-2.5, 3), 0.08770664700806555, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(0.3, 1.7), 0.79680291839745, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(10, 50), 1.607733468833539e-13, 1e-18);
  EXPECT_DOUBLE_EQ(student_t_two_sided_p(0, 4), 1.0);
  EXPECT_DOUBLE_EQ(student_t_two_sided_p(INFINITY, 4), 0.0);
  EXPECT_NEAR(regularized_incomplete_beta(2, 3, 0.4), 0.5248, 1e-12);  // 1 - sum of binomials
}

TEST(CompareStatistics, WelchMatchesScipy) {
  // scipy.stats.ttest_ind([1,2,3,4], [3,4,5,6.5], equal_var=False)
  const TestResult r = welch_t_test(seed_stats({3, 4, 5, 6.5}), seed_stats({1, 2, 3, 4}));
  EXPECT_NEAR(r.statistic, -2.1532216876958206, 1e-12);
  EXPECT_NEAR(r.p, 0.07572247714213781, 1e-12);
  const TestResult s =
      welch_t_test(seed_stats({0.8812, 0.8790, 0.8835}), seed_stats({0.8781, 0.8752, 0.8770}));
  EXPECT_NEAR(s.statistic, -2.8818870372495673, 1e-9);
  EXPECT_NEAR(s.p, 0.05390162784760355, 1e-9);
}

TEST(CompareStatistics, ZScoreUsesThePredictionInterval) {
  const TestResult r = z_test(seed_stats({0.87, 0.88, 0.89}), 0.90);
  EXPECT_NEAR(r.statistic, 2.0, 1e-12);
  EXPECT_EQ(r.df, 2);
  // t = 2 / sqrt(1 + 1/3) with 2 degrees of freedom: 2 * scipy.stats.t.sf(1.7320508, 2).
  EXPECT_NEAR(r.p, 0.22540333075851657, 1e-9);
  EXPECT_DOUBLE_EQ(z_test(seed_stats({0.5, 0.5}), 0.5).p, 1.0);
  EXPECT_DOUBLE_EQ(z_test(seed_stats({0.5, 0.5}), 0.6).p, 0.0);
}

TEST(CompareStatistics, SeedsToResolve) {
  // 2 (1.96 + 0.8416)^2 + 1.96^2 / 4 = 16.66 -> 17 for a difference of one spread.
  EXPECT_EQ(seeds_to_resolve(0.01, 0.01), 17);
  EXPECT_EQ(seeds_to_resolve(-0.02, 0.01), 5);  // 3.92 + 0.96
  EXPECT_EQ(seeds_to_resolve(1.0, 0.01), 2);
  EXPECT_FALSE(seeds_to_resolve(0.0, 0.01));
  EXPECT_FALSE(seeds_to_resolve(0.01, 0.0));
  EXPECT_NEAR(pooled_std({seed_stats({1, 2, 3}), seed_stats({5}), seed_stats({2, 4})}),
              std::sqrt((2 * 1.0 + 1 * 2.0) / 3), 1e-12);
  EXPECT_TRUE(std::isnan(second_half_residual_std({1, 2, 3})));
  EXPECT_NEAR(second_half_residual_std({0, 0, 0, 0, 1, 2, 3, 4}), 0.0, 1e-12);
}

// --- readers, on what real Keras wrote ---

TEST(CompareReaders, KerasCsvHistoryAndTensorBoardHoldTheSameNumbers) {
  for (const char* run : {"l2-0.001_seed-0", "l2-0.01_seed-1"}) {
    const RunCurves csv = read_keras_csv(kKeras / "csv" / (std::string(run) + ".csv"), label(1));
    const RunCurves json =
        read_keras_history(kKeras / "history" / (std::string(run) + ".json"), label(1));
    const RunCurves tb = read_keras_tensorboard(kKeras / "tensorboard" / run, label(1));
    for (const char* metric : kCurveMetrics) {
      ASSERT_NE(csv.find(metric), nullptr) << metric;
      ASSERT_EQ(csv.find(metric)->size(), 3u) << metric;
      // Keras logs float32 values: the CSV's and JSON's doubles are those floats exactly.
      EXPECT_EQ(*csv.find(metric), *json.find(metric)) << run << " " << metric;
      EXPECT_EQ(*csv.find(metric), *tb.find(metric)) << run << " " << metric;
    }
    EXPECT_GT(csv.find("accuracy")->back(), csv.find("accuracy")->front());
  }
}

TEST(CompareReaders, OlderKerasNamesAccAndValAcc) {
  TempDir dir;
  // A spreadsheet's "CSV UTF-8" starts with a byte-order mark.
  write_text(dir / "bom.csv",
             "\xef\xbb\xbf"
             "epoch,loss\n0,1.5\n");
  EXPECT_EQ(*read_keras_csv(dir / "bom.csv", label(0.01)).find("loss"), (std::vector<double>{1.5}));
  write_text(dir / "old.csv",
             "epoch,acc,loss,val_acc,val_loss\r\n0,0.5,1.5,0.55,1.4\r\n1,0.6,1.2,0.62,1.1\r\n");
  const RunCurves csv = read_keras_csv(dir / "old.csv", label(0.01, 3));
  EXPECT_EQ(*csv.find("accuracy"), (std::vector<double>{0.5, 0.6}));
  EXPECT_EQ(*csv.find("val_accuracy"), (std::vector<double>{0.55, 0.62}));
  EXPECT_EQ(csv.seed, 3);
  write_text(
      dir / "old.json",
      R"({"acc": [0.5, 0.6], "loss": [1.5, 1.2], "val_acc": [0.55, null], "val_loss": [1.4, 1.1]})");
  const RunCurves json = read_keras_history(dir / "old.json", label(0.01));
  EXPECT_EQ(json.find("accuracy")->back(), 0.6);
  EXPECT_TRUE(std::isnan(json.find("val_accuracy")->back()));
}

/// A TF1 Keras log folder: classic simple_value scalars named as in its History.
void write_tf1_events(const fs::path& folder, const std::string& extra = "") {
  std::string file = tf_record(file_version_event(1.0));
  for (int64_t step = 0; step < 3; ++step) {
    file += tf_record(scalar_event(1.0, step, "loss", 1.0f / static_cast<float>(step + 1)));
    file += tf_record(scalar_event(1.0, step, "acc", 0.5f + 0.1f * static_cast<float>(step)));
    file += tf_record(scalar_event(1.0, step, "val_loss", 1.5f));
    file += tf_record(scalar_event(1.0, step, "val_acc", 0.25f));
  }
  write_text(folder / "events.out.tfevents.1.host", file + extra);
}

TEST(CompareReaders, ClassicScalarSummaries) {
  TempDir dir;
  write_tf1_events(dir / "tf1");
  const RunCurves tf1 = read_keras_tensorboard(dir / "tf1", label(0.001));
  EXPECT_EQ(*tf1.find("loss"), (std::vector<double>{1.0, 0.5, 1.0f / 3.0f}));
  EXPECT_EQ(*tf1.find("accuracy"), (std::vector<double>{0.5f, 0.6f, 0.7f}));
  EXPECT_EQ(tf1.find("val_accuracy")->size(), 3u);

  // l2sweep's own logs: the TF2 layout (train/, validation/) with classic scalars.
  {
    EventFileWriter train(dir / "l2sweep" / "train");
    EventFileWriter validation(dir / "l2sweep" / "validation");
    for (int64_t step = 0; step < 2; ++step) {
      train.add_scalar("epoch_loss", step, 0.9 - 0.1 * static_cast<double>(step));
      train.add_scalar("epoch_accuracy", step, 0.7);
      validation.add_scalar("epoch_loss", step, 0.8);
      validation.add_scalar("epoch_accuracy", step, 0.75 + 0.01 * static_cast<double>(step));
    }
  }
  const RunCurves tb = read_keras_tensorboard(dir / "l2sweep", label(0.001));
  EXPECT_EQ(*tb.find("loss"), (std::vector<double>{0.9f, 0.8f}));
  EXPECT_EQ(*tb.find("val_accuracy"), (std::vector<double>{0.75f, 0.76f}));
  EXPECT_EQ(detect_format(dir / "l2sweep"), Format::kKerasTensorBoard);
}

/// One Keras training's event file in `folder`: `epochs` epochs of epoch_loss (`loss` + step)
/// and epoch_accuracy, started at `wall`, written as `name`; `restart` appends a second
/// training of `restart` epochs to the same file (a reused writer).
void write_training(const fs::path& folder, const std::string& name, double wall, int epochs,
                    float loss, int restart = 0) {
  std::string file = tf_record(file_version_event(wall));
  for (int64_t step = 0; step < epochs; ++step) {
    file += tf_record(scalar_event(wall + 1, step, "epoch_loss", loss + static_cast<float>(step)));
    file += tf_record(scalar_event(wall + 1, step, "epoch_accuracy", 0.5f));
  }
  for (int64_t step = 0; step < restart; ++step) {
    file += tf_record(scalar_event(wall + 50, step, "epoch_loss", 7.0f + static_cast<float>(step)));
    file += tf_record(scalar_event(wall + 50, step, "epoch_accuracy", 0.25f));
  }
  fs::create_directories(folder);
  write_text(folder / name, file);
}

TEST(CompareReaders, SeveralTrainingsInOneTensorBoardFolderAreNeverSpliced) {
  TempDir dir;
  // An older 4-epoch training and a newer 2-epoch one (the script run again into the same
  // log_dir): the newer is compared, whole, and the older is named as left out.
  for (const char* split : {"train", "validation"}) {
    write_training(dir / "rerun" / split, "events.out.tfevents.100.host.1.v2", 100, 4, 1.0f);
    write_training(dir / "rerun" / split, "events.out.tfevents.200.host.2.v2", 200, 2, 3.0f);
  }
  const RunCurves rerun = read_keras_tensorboard(dir / "rerun", label(0.01));
  EXPECT_EQ(*rerun.find("loss"), (std::vector<double>{3.0, 4.0}));
  EXPECT_EQ(*rerun.find("val_loss"), (std::vector<double>{3.0, 4.0}));
  ASSERT_EQ(rerun.notes.size(), 2u);
  EXPECT_NE(rerun.notes[0].find("holds 2 trainings: compared the newest, "
                                "events.out.tfevents.200.host.2.v2; left out "
                                "events.out.tfevents.100.host.1.v2"),
            std::string::npos)
      << rerun.notes[0];

  // A second fit() through the same writer starts its steps again in the same file.
  for (const char* split : {"train", "validation"}) {
    write_training(dir / "refit" / split, "events.out.tfevents.300.host.3.v2", 300, 3, 1.0f, 2);
  }
  const RunCurves refit = read_keras_tensorboard(dir / "refit", label(0.01));
  EXPECT_EQ(*refit.find("loss"), (std::vector<double>{7.0, 8.0}));
  ASSERT_FALSE(refit.notes.empty());
  EXPECT_NE(refit.notes[0].find("compared the newest, events.out.tfevents.300.host.3.v2 "
                                "(training 2 in it)"),
            std::string::npos)
      << refit.notes[0];

  // The newest training wrote train/ only (it stopped before validating): not spliced with
  // an older training's validation/.
  write_training(dir / "partial" / "train", "events.out.tfevents.100.host.1.v2", 100, 2, 1.0f);
  write_training(dir / "partial" / "validation", "events.out.tfevents.100.host.1.v2", 100, 2, 1.0f);
  write_training(dir / "partial" / "train", "events.out.tfevents.200.host.2.v2", 200, 1, 3.0f);
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "partial", label(0.01)), Error,
                    "the newest training in train/ (events.out.tfevents.200.host.2.v2) has no "
                    "validation/ events");

  // The reverse: a newer training's train/ file holds only its version event (killed before
  // its first epoch ended), or is missing while validation/ holds two trainings after the
  // newest train/ one. Neither is paired with an older training.
  for (const char* split : {"train", "validation"}) {
    write_training(dir / "killed" / split, "events.out.tfevents.100.host.1.v2", 100, 2, 1.0f);
  }
  write_training(dir / "killed" / "train", "events.out.tfevents.200.host.2.v2", 200, 0, 1.0f);
  write_training(dir / "killed" / "validation", "events.out.tfevents.205.host.2.v2", 205, 1, 5.0f);
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "killed", label(0.01)), Error,
                    "the newest training there (events.out.tfevents.200.host.2.v2) holds no "
                    "values yet");
  fs::remove(dir / "killed" / "train" / "events.out.tfevents.200.host.2.v2");
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "killed", label(0.01)), Error,
                    "validation/ holds two trainings");

  // The comparison's notes name what was left out.
  const fs::path sweep = dir / "sweep";
  write_sweep(sweep, {0.01}, {0, 1}, 2, [](double, int64_t) { return 0.8; });
  RunLabel rerun_label = label(0.01, 0);
  const Comparison c =
      compare_sources(read_sources({{"", sweep.string(), std::nullopt},
                                    {"keras",
                                     (dir / "rerun").string(),
                                     rerun_label,
                                     {{"train_size", "50000"}, {"adam", "torch"}}}}),
                      "val_accuracy");
  EXPECT_TRUE(std::any_of(c.notes.begin(), c.notes.end(), [](const std::string& note) {
    return note.find("left out events.out.tfevents.100.host.1.v2") != std::string::npos;
  }));
}

TEST(CompareReaders, AnEventFileTooLargeToBeEpochScalarsIsRefusedBeforeItIsRead) {
  TempDir dir;
  write_training(dir / "huge" / "train", "events.out.tfevents.1.host.1.v2", 1, 2, 1.0f);
  write_training(dir / "huge" / "validation", "events.out.tfevents.1.host.1.v2", 1, 2, 1.0f);
  const fs::path big = dir / "huge" / "validation" / "events.out.tfevents.1.host.1.v2";
  fs::resize_file(big, kMaxEventFileBytes + 1);  // sparse: nothing is written
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "huge", label(0.01)), Error,
                    big.string() +
                        ": 1073741825 bytes, more than the 1073741824 bytes an event "
                        "file of epoch scalars can plausibly take");
}

TEST(CompareReaders, SeedsAreUnsignedSixtyFourBitAsTheSweepsThatWroteThem) {
  TempDir dir;
  const std::vector<uint64_t> seeds = {9223372036854775807ULL, 9223372036854775808ULL,
                                       18446744073709551615ULL};
  write_sweep(dir / "sweep", {0.001}, seeds, 2, [](double, int64_t) { return 0.8; });
  const std::vector<RunCurves> runs = read_l2sweep_folder(dir / "sweep");
  ASSERT_EQ(runs.size(), 3u);
  for (size_t r = 0; r < runs.size(); ++r) EXPECT_EQ(runs[r].seed, seeds[r]);
  EXPECT_EQ(parse_label("l2=0.1,seed=18446744073709551615").seed, 18446744073709551615ULL);
  EXPECT_THROW_WITH(parse_label("l2=0.1,seed=-1"), Error,
                    "seed '-1'; expected an integer from 0 to 2^64-1");
  // The same seeds on both sides pair (identical numbers read as identical).
  fs::create_directories(dir / "copy");
  fs::copy_file(dir / "sweep" / "metrics.csv", dir / "copy" / "metrics.csv");
  const Comparison c = compare_sources(sweeps({dir / "sweep", dir / "copy"}), "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 1u);
  EXPECT_EQ(c.verdicts[0].verdict, Verdict::kIdentical);
}

TEST(CompareReaders, ASweepFolderGivesEveryRunAndColumn) {
  TempDir dir;
  write_sweep(dir / "sweep", {0.001, 0.01}, {0, 1}, 4, [](double, int64_t) { return 0.8; });
  const std::vector<RunCurves> runs = read_l2sweep_folder(dir / "sweep");
  ASSERT_EQ(runs.size(), 4u);
  for (const RunCurves& run : runs) {
    EXPECT_EQ(run.epochs(), 4);
    ASSERT_NE(run.find("w1_norm"), nullptr);
    EXPECT_EQ(run.find("epoch_seconds"), nullptr);  // a timing, never compared
    EXPECT_DOUBLE_EQ(run.find("val_accuracy")->back(), 0.8);
  }
  EXPECT_EQ(detect_format(dir / "sweep"), Format::kL2sweepFolder);

  // With summary.json's planned epochs, runs that stopped early are named as unfinished.
  write_text(dir / "sweep" / "summary.json", R"({"config": {"epochs": 10}})");
  write_sweep(dir / "done", {0.001, 0.01}, {0, 1}, 4, [](double, int64_t) { return 0.8; });
  const Comparison c = compare_sources(sweeps({dir / "done", dir / "sweep"}), "val_accuracy");
  ASSERT_EQ(c.notes.size(), 2u);
  EXPECT_EQ(c.notes[0],
            "'sweep' at l2=0.001: 2 of 2 runs unfinished (4 of 10 planned epochs); "
            "each run's last epoch is taken as its final one.");
}

// --- refusals, each naming the file ---

TEST(CompareErrors, UnreadableSourcesAreNamed) {
  TempDir dir;
  write_text(dir / "bad.csv", "step,foo\n0,1\n");
  EXPECT_THROW_WITH(read_keras_csv(dir / "bad.csv", label(1)), Error, "bad.csv: header 'step,foo'");
  write_text(dir / "gap.csv", "epoch,loss\n0,1\n2,1\n");
  EXPECT_THROW_WITH(read_keras_csv(dir / "gap.csv", label(1)), Error,
                    "line 3: epoch '2', expected 1");
  write_text(dir / "twice.csv", "epoch,loss,loss\n0,1.5,1.4\n1,1.2,1.1\n");
  EXPECT_THROW_WITH(
      read_keras_csv(dir / "twice.csv", label(0.01)), Error,
      "twice.csv: header 'epoch,loss,loss' has loss twice; expected each column once");
  write_text(dir / "both.csv", "epoch,acc,accuracy,loss\n0,0.5,0.5,1.5\n");
  EXPECT_THROW_WITH(read_keras_csv(dir / "both.csv", label(0.01)), Error,
                    "has accuracy twice (as acc and accuracy)");
  write_text(dir / "text.csv", "epoch,loss\n0,abc\n");
  EXPECT_THROW_WITH(read_keras_csv(dir / "text.csv", label(1)), Error,
                    "loss 'abc' is not a number");
  write_text(dir / "short.json", R"({"loss": [1, 2], "val_loss": [1]})");
  EXPECT_THROW_WITH(read_keras_history(dir / "short.json", label(1)), Error,
                    "'val_loss' has 1 values but 'loss' has 2");
  write_text(dir / "list.json", "[1, 2]");
  EXPECT_THROW_WITH(read_keras_history(dir / "list.json", label(1)), Error,
                    "expected a JSON object");
  write_text(dir / "broken.json", "{\"loss\": [1,");
  EXPECT_THROW_WITH(read_keras_history(dir / "broken.json", label(1)), Error, "broken.json");
  EXPECT_THROW_WITH(detect_format(dir / "missing.csv"), Error, "missing.csv: no such file");
  write_text(dir / "notes.txt", "x");
  EXPECT_THROW_WITH(detect_format(dir / "notes.txt"), Error,
                    "notes.txt: expected an l2sweep folder");
  fs::create_directories(dir / "empty");
  EXPECT_THROW_WITH(detect_format(dir / "empty"), Error, "neither an l2sweep output folder");
  write_text(dir / "sharded" / "sweep.cfg", "{}");
  EXPECT_THROW_WITH(detect_format(dir / "sharded"), Error, "run l2sweep merge");
  write_text(dir / "sweep" / "metrics.csv",
             "l2,seed,epoch,loss,accuracy,val_loss,val_accuracy\n0.1,0,1,0.5,0.5,0.5,0.5\n"
             "0.1,0,3,0.4,0.5,0.5,0.5\n");
  EXPECT_THROW_WITH(read_l2sweep_folder(dir / "sweep"), Error,
                    "epoch 3 of l2=0.1 seed=0 follows epoch 1");
  EXPECT_THROW_WITH(read_keras_csv(dir / "bad.csv", RunLabel{}), Error, "needs its strength");
  // Unreadable files are data errors (exit 3), what the user wrote wrong usage errors (exit 2).
  const auto kind_of = [](const std::function<void()>& call) {
    try {
      call();
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "no Error thrown";
    return ErrorKind::kInternal;
  };
  EXPECT_EQ(kind_of([&] { read_keras_csv(dir / "text.csv", label(1)); }), ErrorKind::kData);
  EXPECT_EQ(kind_of([&] { read_keras_csv(dir / "text.csv", RunLabel{}); }), ErrorKind::kUsage);
  // An l2sweep metrics.csv needs the four metrics it always writes.
  write_text(dir / "cut" / "metrics.csv", "l2,seed,epoch,accuracy,val_loss,val_accuracy\n");
  EXPECT_THROW_WITH(read_l2sweep_folder(dir / "cut"), Error, "no 'loss' column");
  // JSON that would take the parser down, or numbers beyond double: one line, the file named.
  write_text(dir / "deep.json",
             "{\"loss\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  EXPECT_THROW_WITH(read_keras_history(dir / "deep.json", label(1)), Error,
                    "deep.json: nested more than 64 deep");
  write_text(dir / "huge.json", R"({"loss": [0.5, 1e400]})");
  EXPECT_THROW_WITH(read_keras_history(dir / "huge.json", label(1)), Error,
                    "huge.json: [json.exception.out_of_range.406]");
  // What a message quotes from a file is cut short and printable.
  write_text(dir / "binary.csv", std::string("\x1b[31m") + std::string(500, 'x') + "\n0,1\n");
  EXPECT_THROW_WITH(read_keras_csv(dir / "binary.csv", label(1)), Error, "header '\\x1b[31mxxxx");
  try {
    read_keras_csv(dir / "binary.csv", label(1));
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 250u);
  }
  // An l2sweep metrics.csv given as a Keras file: the folder is what to give.
  EXPECT_THROW_WITH(read_keras_csv(dir / "sweep" / "metrics.csv", label(1)), Error,
                    "an l2sweep metrics.csv; give its folder");
}

TEST(CompareReaders, HistoryOfADivergedKerasRun) {
  // Python's json.dump writes NaN and Infinity, which JSON lacks; they read as NaN.
  TempDir dir;
  write_text(
      dir / "nan.json",
      R"({"loss": [2.5, NaN, Infinity], "val_loss": [-Infinity, 1.0, NaN], "note": ["NaN", "", ""]})");
  const RunCurves run = read_keras_history(dir / "nan.json", label(0.1));
  EXPECT_EQ(run.find("loss")->front(), 2.5);
  EXPECT_TRUE(std::isnan(run.find("loss")->back()));
  EXPECT_TRUE(std::isnan(run.find("val_loss")->front()));
  EXPECT_EQ((*run.find("val_loss"))[1], 1.0);
  write_text(dir / "broken.json", "{\"loss\": [1,");
  EXPECT_THROW_WITH(read_keras_history(dir / "broken.json", label(1)), Error,
                    "not valid JSON at byte 13; expected History.history");
}

TEST(CompareErrors, EventFilesWithBadCrcsOrTruncatedRecords) {
  TempDir dir;
  const fs::path original = kKeras / "tensorboard" / "l2-0.001_seed-0" / "train";
  fs::path file;
  for (const auto& entry : fs::directory_iterator(original)) file = entry.path();
  std::vector<uint8_t> bytes = l2sweep::testing::read_bytes(file);
  ASSERT_GT(bytes.size(), 200u);

  std::vector<uint8_t> flipped = bytes;
  flipped[14] ^= 0x10;  // inside the first record's payload (after its 12-byte header)
  for (const char* name : {"flipped", "length", "cut"})
    fs::create_directories(dir / name / "train");
  l2sweep::testing::write_bytes(dir / "flipped" / "train" / "events.out.tfevents.1.x", flipped);
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "flipped", label(1)), Error, "bad data CRC");

  std::vector<uint8_t> length = bytes;
  length[0] ^= 0x01;  // the first record's length
  l2sweep::testing::write_bytes(dir / "length" / "train" / "events.out.tfevents.1.x", length);
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "length", label(1)), Error, "bad length CRC");

  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 7);
  l2sweep::testing::write_bytes(dir / "cut" / "train" / "events.out.tfevents.1.x", cut);
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "cut", label(1)), Error, "is truncated");

  write_tf1_events(dir / "garbage", std::string(tf_record("\xff\xff\xff")));
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "garbage", label(1)), Error,
                    "is not an Event protocol buffer");

  write_text(dir / "other" / "train" / "events.out.tfevents.1.x",
             tf_record(scalar_event(1.0, 0, "something_else", 1.0f)));
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "other", label(1)), Error,
                    "no epoch_loss or epoch_accuracy");
  write_text(dir / "hole" / "train" / "events.out.tfevents.1.x",
             tf_record(scalar_event(1.0, 0, "epoch_loss", 1.0f)) +
                 tf_record(scalar_event(1.0, 2, "epoch_loss", 1.0f)));
  EXPECT_THROW_WITH(read_keras_tensorboard(dir / "hole", label(1)), Error,
                    "'epoch_loss' has no value for epoch 2");
}

// --- pairing ---

TEST(ComparePairing, PatternsLabelRunsFromTheirPaths) {
  const auto matches = expand_pattern((kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string());
  ASSERT_EQ(matches.size(), 4u);
  EXPECT_EQ(matches[0].first.filename(), "l2-0.001_seed-0.csv");
  EXPECT_EQ(matches[0].second.l2, 0.001);
  EXPECT_EQ(matches[0].second.seed, 0);
  EXPECT_EQ(matches[3].second.l2, 0.01);
  EXPECT_EQ(matches[3].second.seed, 1);

  TempDir dir;
  write_text(dir / "seed1" / "l2_1e-3.json", "{}");
  write_text(dir / "seed1" / "l2_best.json", "{}");  // not a number: not a match
  write_text(dir / "seed2" / "l2_0.01.json", "{}");
  const auto nested = expand_pattern((dir / "seed{seed}" / "l2_{l2}.json").string());
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[0].second.l2, 0.001);
  EXPECT_EQ(nested[0].second.seed, 1);
  EXPECT_EQ(nested[1].second.seed, 2);
  EXPECT_THROW_WITH(expand_pattern((dir / "{seed}.json").string()), Error, "needs {l2}");
  EXPECT_THROW_WITH(expand_pattern((dir / "{l2}_{run}.json").string()), Error,
                    "unknown placeholder '{run}'");
}

TEST(ComparePairing, KerasRunsGroupIntoSourcesAndPairByStrength) {
  TempDir dir;
  write_sweep(dir / "sweep", {0.001, 0.01, 0.1}, {0, 1}, 3,
              [](double, int64_t seed) { return 0.7 + 0.001 * static_cast<double>(seed); });
  const std::vector<Source> sources = read_sources({
      {"", (dir / "sweep").string(), std::nullopt},
      {"k", (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string(), std::nullopt},
      {"one", (kKeras / "history" / "l2-0.01_seed-1.json").string(), label(1e-2)},
  });
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0].name, "sweep");
  EXPECT_EQ(sources[1].name, "k");
  EXPECT_EQ(sources[1].runs.size(), 4u);
  EXPECT_EQ(sources[2].runs.size(), 1u);
  const Comparison c = compare_sources(
      read_sources({{"", (dir / "sweep").string(), std::nullopt},
                    {"k", (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string(), std::nullopt}}),
      "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 2u);  // 0.001 and 0.01; the sweep's 0.1 pairs nothing
  EXPECT_EQ(c.verdicts[0].l2, 0.001);
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("l2=0.1 of 'sweep' has no counterpart in 'k'"), std::string::npos);
}

TEST(ComparePairing, RefusesWhatPairsNothingOrTwice) {
  TempDir dir;
  write_sweep(dir / "sweep", {0.5}, {0}, 3, [](double, int64_t) { return 0.7; });
  EXPECT_THROW_WITH(
      compare_sources(
          read_sources({{"", (dir / "sweep").string(), std::nullopt},
                        {"", (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string(), std::nullopt}}),
          "val_accuracy"),
      Error, "source 'keras' (l2=0.001, l2=0.01) shares no setting with 'sweep' (l2=0.5)");
  EXPECT_THROW_WITH(
      read_sources({{"", (kKeras / "csv" / "l2-0.001_seed-0.csv").string(), label(1)},
                    {"", (kKeras / "csv" / "l2-0.001_seed-1.csv").string(), label(1)}}),
      Error, "two runs with l2=1 and no seed");
  EXPECT_THROW_WITH(read_sources({{"", (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string(), {}},
                                  {"", (kKeras / "history" / "l2-{l2}_seed-{seed}.json").string(),
                                   std::nullopt}}),
                    Error, "two runs with l2=0.001 seed=0");
  EXPECT_THROW_WITH(read_sources({{"", (dir / "sweep").string(), label(1)}}), Error,
                    "an l2sweep folder labels its own runs");
  EXPECT_THROW_WITH(read_sources({{"", (dir / "nothing-{l2}.csv").string(), std::nullopt}}), Error,
                    "matches no file or folder");
  EXPECT_THROW_WITH(read_sources({{"", (kKeras / "csv" / "l2-0.001_seed-0.csv").string(), label(1)},
                                  {"keras", (dir / "sweep").string(), std::nullopt}}),
                    Error, "--source keras: already has runs");
  EXPECT_THROW_WITH(
      compare_sources(read_sources({{"", (dir / "sweep").string(), std::nullopt}}), "val_accuracy"),
      Error, "expected two or more");
}

// --- verdicts on constructed cases ---

TEST(CompareVerdicts, TheSameSweepIsIdentical) {
  TempDir dir;
  const auto final_value = [](double l2, int64_t seed) {
    return 0.8 - l2 + 0.003 * static_cast<double>(seed);
  };
  write_sweep(dir / "a", {0.001, 0.01}, {0, 1, 2}, 5, final_value);
  write_sweep(dir / "b", {0.001, 0.01}, {0, 1, 2}, 5, final_value);
  const Comparison c = compare_sources(sweeps({dir / "a", dir / "b"}), "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 2u);
  for (const StrengthVerdict& v : c.verdicts) EXPECT_EQ(v.verdict, Verdict::kIdentical);

  // One bit of one metric in one epoch: no longer identical, and the test decides.
  std::string csv = *read_text_file(dir / "b" / "metrics.csv");
  const size_t at = csv.find(",9,0.5\n");  // w1_norm of the first row
  csv.replace(at, 7, ",9.000000000000002,0.5\n");
  write_text(dir / "b" / "metrics.csv", csv);
  const Comparison changed = compare_sources(sweeps({dir / "a", dir / "b"}), "val_accuracy");
  EXPECT_EQ(verdict_at(changed, 0.001).verdict, Verdict::kConsistent);
  EXPECT_EQ(verdict_at(changed, 0.001).difference, 0.0);
  EXPECT_EQ(verdict_at(changed, 0.01).verdict, Verdict::kIdentical);
}

TEST(CompareVerdicts, WelchDecidesWithSeedsOnBothSides) {
  TempDir dir;
  const double a[] = {0.8781, 0.8752, 0.8770};
  const double b[] = {0.8812, 0.8790, 0.8835};
  const double far[] = {0.9012, 0.8990, 0.9035};
  write_sweep(dir / "a", {0.001}, {0, 1, 2}, 3, [&](double, int64_t s) { return a[s]; });
  write_sweep(dir / "b", {0.001}, {0, 1, 2}, 3, [&](double, int64_t s) { return b[s]; });
  write_sweep(dir / "far", {0.001}, {0, 1, 2}, 3, [&](double, int64_t s) { return far[s]; });
  const Comparison c = compare_sources(sweeps({dir / "a", dir / "b", dir / "far"}), "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 2u);
  const StrengthVerdict& near = c.verdicts[0];
  EXPECT_EQ(c.sources[c.groups[near.other].source].name, "b");
  EXPECT_EQ(near.method, "Welch's t-test");
  EXPECT_NEAR(near.test.p, 0.05390162784760355, 1e-9);  // just above 0.05
  EXPECT_EQ(near.verdict, Verdict::kConsistent);
  EXPECT_NEAR(near.difference, (0.8812 + 0.8790 + 0.8835 - 0.8781 - 0.8752 - 0.8770) / 3, 1e-12);
  ASSERT_TRUE(near.seeds_needed);
  EXPECT_GE(*near.seeds_needed, 3);
  EXPECT_EQ(c.verdicts[1].verdict, Verdict::kDiffers);
  EXPECT_LT(c.verdicts[1].test.p, 0.001);
}

TEST(CompareVerdicts, OneRunAgainstSeedsIsAZScore) {
  TempDir dir;
  const double seeds[] = {0.87, 0.88, 0.89};
  write_sweep(dir / "seeds", {0.01}, {0, 1, 2}, 3, [&](double, int64_t s) { return seeds[s]; });
  write_sweep(dir / "one", {0.01}, {0}, 3, [](double, int64_t) { return 0.90; });
  write_sweep(dir / "outlier", {0.01}, {0}, 3, [](double, int64_t) { return 0.95; });
  const Comparison c =
      compare_sources(sweeps({dir / "seeds", dir / "one", dir / "outlier"}), "val_accuracy");
  EXPECT_EQ(c.verdicts[0].method, "z-score against the reference's seeds");
  EXPECT_NEAR(c.verdicts[0].test.statistic, 2.0, 1e-9);
  EXPECT_NEAR(c.verdicts[0].test.p, 0.22540333075851657, 1e-6);
  EXPECT_EQ(c.verdicts[0].verdict, Verdict::kConsistent);
  EXPECT_EQ(c.verdicts[1].verdict, Verdict::kDiffers);  // z = 7

  // The other way round: the reference has one run, the source the seeds; z keeps its sign
  // (positive: the source is larger).
  const Comparison reversed = compare_sources(sweeps({dir / "one", dir / "seeds"}), "val_accuracy");
  EXPECT_EQ(reversed.verdicts[0].method, "z-score against this source's seeds");
  EXPECT_NEAR(reversed.verdicts[0].test.statistic, -2.0, 1e-9);
  EXPECT_NEAR(reversed.verdicts[0].difference, -0.02, 1e-12);
}

TEST(CompareVerdicts, OneRunEachCannotTellAndSaysHowManySeedsWould) {
  TempDir dir;
  // Other strengths with seeds give the spread to plan with: 0.01 at l2 0.1.
  write_sweep(dir / "a", {0.001, 0.1}, {0, 1}, 3, [](double l2, int64_t s) {
    return l2 == 0.1 ? 0.7 + 0.01 * std::sqrt(2.0) * static_cast<double>(s) : 0.80;
  });
  write_sweep(dir / "b", {0.001}, {5}, 3, [](double, int64_t) { return 0.81; });
  // The reference's 0.001 has two seeds here, so strip it down to one run.
  std::string csv = *read_text_file(dir / "a" / "metrics.csv");
  std::string kept;
  for (size_t start = 0; start < csv.size();) {
    const size_t end = csv.find('\n', start);
    const std::string line = csv.substr(start, end - start + 1);
    if (line.rfind("0.001,1,", 0) != 0) kept += line;
    start = end + 1;
  }
  write_text(dir / "a" / "metrics.csv", kept);
  const Comparison c = compare_sources(sweeps({dir / "a", dir / "b"}), "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 1u);
  const StrengthVerdict& v = c.verdicts[0];
  EXPECT_EQ(v.verdict, Verdict::kCannotTell);
  EXPECT_FALSE(v.tested);
  EXPECT_NEAR(v.planning_std, 0.01, 1e-9);
  EXPECT_EQ(v.planning_basis, "the seed spread of these sources at their other strengths");
  EXPECT_EQ(v.seeds_needed, 17);  // a difference of one spread

  // Without seeds anywhere, the epoch-to-epoch noise of the second half stands in: here
  // +-0.005 around a straight line.
  const auto noisy = [](double final_value) {
    std::string text = "l2,seed,epoch,loss,accuracy,val_loss,val_accuracy\n";
    for (int epoch = 1; epoch <= 8; ++epoch) {
      text += fmt::format("0.001,0,{},0.5,0.8,0.6,{}\n", epoch,
                          final_value - 0.01 * (8 - epoch) + (epoch % 2 == 0 ? 0.005 : -0.005));
    }
    return text;
  };
  write_text(dir / "c" / "metrics.csv", noisy(0.80));
  write_text(dir / "d" / "metrics.csv", noisy(0.81));
  const Comparison noise = compare_sources(sweeps({dir / "c", dir / "d"}), "val_accuracy");
  EXPECT_EQ(noise.verdicts[0].verdict, Verdict::kCannotTell);
  EXPECT_NEAR(noise.verdicts[0].difference, 0.01, 1e-12);
  EXPECT_NE(noise.verdicts[0].planning_basis.find("epoch-to-epoch noise"), std::string::npos);
  // The last four epochs' residuals about their own least-squares line are -0.002, 0.006,
  // -0.006 and 0.002 (numpy.polyfit): sqrt(sum of squares / (n - 2)).
  EXPECT_NEAR(noise.verdicts[0].planning_std, 0.0063245553203367475, 1e-12);
  ASSERT_TRUE(noise.verdicts[0].seeds_needed);
  const std::string md = compare_markdown(noise, "l2sweep compare c d");
  EXPECT_NE(md.find("**cannot tell**"), std::string::npos);
  EXPECT_NE(md.find("about " + std::to_string(*noise.verdicts[0].seeds_needed) + " seeds per side"),
            std::string::npos)
      << md;

  // Too few epochs to measure even that: the plan is to measure the spread.
  write_sweep(dir / "e", {0.001}, {0}, 3, [](double, int64_t) { return 0.80; });
  write_sweep(dir / "f", {0.001}, {0}, 3, [](double, int64_t) { return 0.81; });
  const Comparison unknown = compare_sources(sweeps({dir / "e", dir / "f"}), "val_accuracy");
  EXPECT_FALSE(unknown.verdicts[0].seeds_needed);
  EXPECT_NE(compare_markdown(unknown, "x").find("unknown: run 3 seeds per side"),
            std::string::npos);
}

TEST(CompareVerdicts, SeedsThatTieMeasureNoSpread) {
  // A sweep against its own float32 TensorBoard values when its two seeds tie: consistent,
  // not "differs with p = 0".
  TempDir dir;
  write_sweep(dir / "a", {0.001}, {0, 1}, 3, [](double, int64_t) { return 0.8; });
  write_sweep(dir / "f32", {0.001}, {0, 1}, 3,
              [](double, int64_t) { return static_cast<double>(0.8f); });
  write_sweep(dir / "far", {0.001}, {0, 1}, 3, [](double, int64_t) { return 0.85; });
  write_sweep(dir / "one", {0.001}, {0}, 3, [](double, int64_t) { return 0.85; });
  const Comparison c =
      compare_sources(sweeps({dir / "a", dir / "f32", dir / "far", dir / "one"}), "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 3u);
  EXPECT_EQ(c.verdicts[0].verdict, Verdict::kConsistent);
  EXPECT_EQ(c.verdicts[0].method, "no seed spread; the difference is float32 rounding");
  EXPECT_EQ(c.verdicts[1].verdict, Verdict::kCannotTell);
  EXPECT_EQ(c.verdicts[1].method, "no seed spread measured (the seeds tie)");
  EXPECT_EQ(c.verdicts[2].verdict, Verdict::kCannotTell);  // one run against tied seeds
}

TEST(CompareVerdicts, ASideWhoseRunsAllDiverged) {
  TempDir dir;
  // A run whose loss went NaN diverged even where its accuracy is still a number.
  write_text(dir / "k.csv", "epoch,loss,val_accuracy\n0,0.5,0.8\n1,nan,0.1\n");
  write_sweep(dir / "ref", {0.01}, {0, 1}, 2, [](double, int64_t s) { return 0.8 + 0.01 * s; });
  const Comparison keras =
      compare_sources(read_sources({{"", (dir / "ref").string(), std::nullopt},
                                    {"", (dir / "k.csv").string(), label(0.01)}}),
                      "val_accuracy");
  EXPECT_EQ(keras.verdicts[0].method, "every run diverged on one side only");
  write_sweep(dir / "a", {0.01}, {0, 1}, 3, [](double, int64_t s) { return 0.8 + 0.01 * s; });
  write_sweep(dir / "nan", {0.01}, {0, 1}, 3, [](double, int64_t) { return NAN; });
  const Comparison c = compare_sources(sweeps({dir / "a", dir / "nan"}), "val_accuracy");
  EXPECT_EQ(c.verdicts[0].verdict, Verdict::kDiffers);
  EXPECT_EQ(c.verdicts[0].method, "every run diverged on one side only");
  EXPECT_EQ(c.groups[1].diverged.size(), 2u);
  const std::string md = compare_markdown(c, "x");
  EXPECT_NE(md.find("left out of the statistics"), std::string::npos);
  EXPECT_EQ(md.find("run 3 seeds per side"), std::string::npos);
  const Comparison both = compare_sources(sweeps({dir / "nan", dir / "nan"}), "val_accuracy");
  EXPECT_EQ(both.verdicts[0].verdict, Verdict::kIdentical);
}

TEST(CompareVerdicts, OtherMetricsAndMissingOnes) {
  TempDir dir;
  write_sweep(dir / "a", {0.001}, {0, 1}, 3, [](double, int64_t s) { return 0.8 + 0.01 * s; });
  write_text(dir / "k.csv", "epoch,loss\n0,1.0\n1,0.5\n");
  EXPECT_THROW_WITH(compare_sources(read_sources({{"", (dir / "a").string(), std::nullopt},
                                                  {"", (dir / "k.csv").string(), label(0.001)}}),
                                    "val_accuracy"),
                    Error, "k.csv: run l2=0.001 of source 'keras' has no val_accuracy");
  const Comparison c = compare_sources(read_sources({{"", (dir / "a").string(), std::nullopt},
                                                     {"", (dir / "k.csv").string(), label(0.001)}}),
                                       "loss");
  EXPECT_EQ(c.statistic, "final_loss");
  // The Keras run has 2 epochs, the sweep 3: compared at epoch 2, where both have loss 0.5
  // (the sweep's two seeds tie on 1/epoch).
  EXPECT_EQ(c.verdicts[0].at_epoch, 2);
  EXPECT_EQ(c.verdicts[0].verdict, Verdict::kConsistent);
  ASSERT_EQ(c.verdicts[0].conditions.size(), 1u);
  EXPECT_EQ(c.verdicts[0].conditions[0], "at epoch 2, the last both trained (a 3, keras 2)");
  EXPECT_THROW_WITH(compare_sources(sweeps({dir / "a", dir / "a"}), "w1_norm"), Error,
                    "--metric w1_norm");
}

// --- the command and its files ---

TEST(CompareCommand, ParsesSourcesLabelsAndOptions) {
  const auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), {"l2sweep", "compare"});
    return cli::parse_command_line(static_cast<int>(args.size()), args.data());
  };
  const cli::CommandLine command =
      parse({"runs/a", "--source", "keras", "--label", "l2=1e-3,seed=2", "a.csv", "--label=l2=0.01",
             "b.json", "--out", "cmp", "--metric", "val_loss"});
  EXPECT_EQ(command.action, cli::CommandLine::Action::kCompare);
  ASSERT_EQ(command.compare.arguments.size(), 3u);
  EXPECT_EQ(command.compare.arguments[0].source, "");
  EXPECT_FALSE(command.compare.arguments[0].label);
  EXPECT_EQ(command.compare.arguments[1].source, "keras");
  EXPECT_EQ(command.compare.arguments[1].label->l2, 0.001);
  EXPECT_EQ(command.compare.arguments[1].label->seed, 2);
  EXPECT_EQ(command.compare.arguments[2].label->l2, 0.01);
  EXPECT_FALSE(command.compare.arguments[2].label->seed);
  EXPECT_EQ(command.compare.out, "cmp");
  EXPECT_EQ(command.compare.metric, "val_loss");
  EXPECT_EQ(parse({"--help"}).action, cli::CommandLine::Action::kHelp);
  EXPECT_NE(parse({"--help"}).help.find("--label l2=X[,seed=N]"), std::string::npos);

  EXPECT_THROW_WITH(parse({"a", "b", "--label", "l2=1"}), Error, "must come right before");
  EXPECT_THROW_WITH(parse({"a", "--label", "l2=1", "--source", "x", "b"}), Error,
                    "must come right before");
  EXPECT_THROW_WITH(parse({"a", "--label", "seed=1", "b"}), Error, "expected l2=STRENGTH");
  EXPECT_THROW_WITH(parse({"a", "--label", "l2=-1", "b"}), Error, "not a non-negative number");
  EXPECT_THROW_WITH(parse({"a", "--label", "l2=1,bogus=2", "b"}), Error,
                    "unknown setting 'bogus'; expected l2, seed, data, train_size");
  EXPECT_THROW_WITH(parse({"a", "--label", "l2=1,epochs=2", "b"}), Error,
                    "unknown setting 'epochs'");
  EXPECT_THROW_WITH(parse({"a", "--label", "l2=1,adam=sgd", "b"}), Error,
                    "adam 'sgd'; expected torch or keras");
  EXPECT_THROW_WITH(parse({"a", "--setup", "train_size=0", "b"}), Error,
                    "train_size '0'; expected a positive integer");
  EXPECT_THROW_WITH(parse({"a", "--setup", "l2=1", "b"}), Error, "l2 is each run's own");
  EXPECT_THROW_WITH(parse({"a", "--setup", "lr=0.001, adam=keras", "b"}), Error,
                    "unknown setting ' adam'");
  EXPECT_THROW_WITH(parse({"a"}), Error, "expected two or more sources");
  EXPECT_THROW_WITH(parse({"a", "b", "--jobs", "2"}), Error, "unknown option '--jobs'");
  EXPECT_THROW_WITH(parse({"a", "b", "--metric", "w1_norm"}), Error, "--metric w1_norm");
  EXPECT_THROW_WITH(parse({"a", "b", "--out"}), Error, "--out needs a value");
  EXPECT_THROW_WITH(parse({"a", "--source", "x,y", "b"}), Error, "without commas");
  EXPECT_THROW_WITH(parse({"a", "b", "--source", "x"}), Error, "--source x names no path after it");
  EXPECT_THROW_WITH(parse({"a", "--source", "x", "--source", "y", "b"}), Error,
                    "--source x names no path before the next --source");
}

TEST(CompareCommand, WritesItsFilesAndRefusesAFolderInUse) {
  TempDir dir;
  write_sweep(dir / "a", {0.001, 0.01}, {0, 1}, 3,
              [](double, int64_t s) { return 0.6 + 0.01 * s; });
  CompareOptions options;
  options.arguments = {
      {"", (dir / "a").string(), std::nullopt},
      {"keras", (kKeras / "tensorboard" / "l2-{l2}_seed-{seed}").string(), std::nullopt}};
  options.out = dir / "out";
  std::FILE* sink = std::tmpfile();
  const CompareResult result = run_compare(options, "l2sweep compare ...", sink);
  std::fclose(sink);
  EXPECT_EQ(result.out_dir, dir / "out");
  for (const char* name : {"compare.md", "compare.csv", "curves.csv", "compare.json"}) {
    EXPECT_TRUE(fs::exists(dir / "out" / name)) << name;
  }
  const std::string md = *read_text_file(dir / "out" / "compare.md");
  EXPECT_NE(md.find("| **keras** | 4 runs from Keras TensorBoard log folders"), std::string::npos)
      << md;
  EXPECT_NE(md.find("## How the verdicts are decided"), std::string::npos);
  EXPECT_NE(md.find("p < 0.05"), std::string::npos);
  const std::string curves = *read_text_file(dir / "out" / "curves.csv");
  EXPECT_EQ(curves.rfind("source,l2,seed,epoch,loss,accuracy,val_loss,val_accuracy,dropout,"
                         "weight_decay\n",
                         0),
            0u);
  EXPECT_NE(curves.find("\nkeras,0.01,1,3,"), std::string::npos);
  const std::string csv = *read_text_file(dir / "out" / "compare.csv");
  EXPECT_NE(csv.find("0.001,a,2,final_val_accuracy,0.605,"), std::string::npos) << csv;

  // A folder in use is refused before anything is written; so is a source that cannot be read,
  // which leaves no folder behind.
  EXPECT_THROW_WITH(run_compare(options, "again", stdout), Error, "not empty");
  for (const char* name : {"compare.md", "compare.csv", "curves.csv"}) {
    EXPECT_EQ(*read_text_file(dir / "out" / name), std::string(name) == "compare.md"    ? md
                                                   : std::string(name) == "compare.csv" ? csv
                                                                                        : curves)
        << name << " changed by a refused compare";
  }
  options.out = dir / "never";
  options.arguments.push_back({"", (dir / "missing").string(), std::nullopt});
  EXPECT_THROW_WITH(run_compare(options, "missing", stdout), Error, "missing: no such file");
  EXPECT_FALSE(fs::exists(dir / "never"));
}

// --- setups: what each source trained with ---

/// A real sweep on the fixture, with sweep.cfg and summary.json: `train` images, `epochs`.
fs::path fixture_sweep(const fs::path& out, int64_t train, int64_t epochs,
                       std::vector<double> dropout = {0.0}, Shuffle shuffle = Shuffle::kEachEpoch) {
  SweepConfig config;
  config.shuffle = shuffle;
  config.data_dir = l2sweep::testing::fixture_dir().string();
  config.val_size = 200;
  config.train_size = train;
  config.epochs = epochs;
  config.seeds = 2;
  config.l2_strengths = {0.001, 0.01};
  config.dropout_rates = std::move(dropout);
  config.device = "cpu";
  config.out_dir = out.string();
  std::FILE* sink = std::tmpfile();
  run_experiment(config, "l2sweep (test)", sink);
  std::fclose(sink);
  return out;
}

const SetupRow& row_of(const Comparison& c, const std::string& key) {
  for (const SetupRow& row : c.setups) {
    if (row.key == key) return row;
  }
  throw std::runtime_error("no setup row " + key);
}

TEST(CompareSetups, SweepsWithOtherTrainingSizesAreNotComparableUnlessForced) {
  TempDir dir;
  const fs::path big = fixture_sweep(dir / "big", 600, 2);
  const fs::path small = fixture_sweep(dir / "small", 300, 1);
  const Comparison c = compare_sources(sweeps({big, small}), "val_accuracy");
  EXPECT_EQ(row_of(c, "train_size").values[0].value, "600");
  EXPECT_EQ(row_of(c, "train_size").values[1].value, "300");
  EXPECT_TRUE(row_of(c, "train_size").differs);
  EXPECT_TRUE(row_of(c, "epochs").differs);
  EXPECT_FALSE(row_of(c, "data").differs) << "the same files";
  EXPECT_FALSE(row_of(c, "lr").differs);
  ASSERT_EQ(c.verdicts.size(), 2u);
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_EQ(v.verdict, Verdict::kNotComparable);
    EXPECT_FALSE(v.tested);
    ASSERT_EQ(v.conditions.size(), 1u);
    EXPECT_EQ(v.conditions[0], "train_size 300 (small) vs 600 (big)");
  }
  const std::string md = compare_markdown(c, "cmd");
  EXPECT_NE(md.find("## Setups"), std::string::npos);
  EXPECT_NE(md.find("**not comparable**: train_size 300 (small) vs 600 (big)"), std::string::npos)
      << md;
  EXPECT_NE(md.find("--ignore train_size"), std::string::npos);

  // Forced: tested at the last epoch both trained, and the verdict says both.
  const Comparison forced = compare_sources(sweeps({big, small}), "val_accuracy", {"train_size"});
  for (const StrengthVerdict& v : forced.verdicts) {
    EXPECT_NE(v.verdict, Verdict::kNotComparable);
    EXPECT_TRUE(v.tested);
    EXPECT_EQ(v.at_epoch, 1);
    ASSERT_EQ(v.conditions.size(), 2u);
    EXPECT_EQ(v.conditions[0], "at epoch 1, the last both trained (big 2, small 1)");
    EXPECT_EQ(v.conditions[1], "forced: train_size 300 (small) vs 600 (big) ignored");
    // The statistic is the first epoch's, not the big sweep's final one.
    const SeedStats at_one =
        seed_stats({c.groups[v.reference].runs[0]->find("val_accuracy")->at(0),
                    c.groups[v.reference].runs[1]->find("val_accuracy")->at(0)});
    const SeedStats other = forced.groups[v.other].statistic("final_val_accuracy");
    EXPECT_DOUBLE_EQ(v.difference, other.mean - at_one.mean);
    EXPECT_DOUBLE_EQ(v.reference_stats.mean, at_one.mean) << "the table shows what was tested";
    EXPECT_DOUBLE_EQ(v.other_stats.mean, other.mean);
  }
  EXPECT_THROW_WITH(compare_sources(sweeps({big, small}), "val_accuracy", {"engine"}), Error,
                    "--ignore engine: expected a setting that can block a verdict");
}

TEST(CompareSetups, KerasAssumptionsArePrintedAndBlockWhatDiffers) {
  TempDir dir;
  const fs::path sweep = fixture_sweep(dir / "sweep", 300, 3);
  const std::string keras = (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string();
  // Nothing stated for the Keras runs: the seed experiment's setup is assumed, and its 50,000
  // training images and Keras' Adam are not this sweep's.
  Comparison c = compare_sources(
      read_sources({{"", sweep.string(), std::nullopt}, {"keras", keras, std::nullopt}}),
      "val_accuracy");
  EXPECT_EQ(row_of(c, "train_size").values[1].value, "50000");
  EXPECT_EQ(row_of(c, "train_size").values[1].origin, SettingOrigin::kAssumed);
  EXPECT_EQ(row_of(c, "data").values[1].origin, SettingOrigin::kUnknown) << "never assumed";
  EXPECT_NE(c.assumptions[1].find("train_size 50000"), std::string::npos);
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_EQ(v.verdict, Verdict::kNotComparable);
    EXPECT_EQ(v.conditions,
              (std::vector<std::string>{"train_size 50000 (keras, assumed) vs 300 (sweep)",
                                        "val_size 10000 (keras, assumed) vs 200 (sweep)",
                                        "adam keras (keras, assumed) vs torch (sweep)"}));
  }
  EXPECT_NE(compare_markdown(c, "cmd").find("Assumed for 'keras'"), std::string::npos);
  // Stated with --setup (and a --label that overrides it for one run): comparable, at the
  // common epochs (the Keras runs have 3, as the sweep).
  std::map<std::string, std::string> setup = {
      {"train_size", "300"}, {"val_size", "200"}, {"adam", "torch"}};
  c = compare_sources(
      read_sources({{"", sweep.string(), std::nullopt}, {"keras", keras, std::nullopt, setup}}),
      "val_accuracy");
  EXPECT_EQ(row_of(c, "train_size").values[1].origin, SettingOrigin::kGiven);
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_NE(v.verdict, Verdict::kNotComparable);
    EXPECT_TRUE(v.conditions.empty());
  }
  RunLabel other = label(0.01, 5);
  other.setup["train_size"] = "999";
  fs::copy_file(kKeras / "csv" / "l2-0.01_seed-1.csv", dir / "another.csv");
  c = compare_sources(read_sources({{"", sweep.string(), std::nullopt},
                                    {"keras", keras, std::nullopt, setup},
                                    {"keras", (dir / "another.csv").string(), other, setup}}),
                      "val_accuracy");
  EXPECT_EQ(row_of(c, "train_size").values[1].value, "mixed (300, 999)");
  EXPECT_EQ(c.verdicts[0].verdict, Verdict::kNotComparable);
  // An l2sweep folder states its own setup.
  EXPECT_THROW_WITH(read_sources({{"", sweep.string(), std::nullopt, setup}}), Error,
                    "an l2sweep folder records its own setup");
}

TEST(CompareSetups, TheDataOrderBlocksAndKerasRunsAreAssumedReshuffledEachEpoch) {
  TempDir dir;
  const fs::path each = fixture_sweep(dir / "each", 300, 2);
  const fs::path once = fixture_sweep(dir / "once", 300, 2, {0.0}, Shuffle::kOnce);
  Comparison c = compare_sources(sweeps({each, once}), "val_accuracy");
  EXPECT_EQ(row_of(c, "shuffle").values[0].value, "each-epoch");
  EXPECT_EQ(row_of(c, "shuffle").values[1].value, "once");
  EXPECT_EQ(row_of(c, "shuffle").values[1].origin, SettingOrigin::kRecorded);
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_EQ(v.verdict, Verdict::kNotComparable);
    EXPECT_EQ(v.conditions, (std::vector<std::string>{"shuffle once (once) vs each-epoch (each)"}));
  }
  // Keras runs that do not say are assumed to be the seed script's (reshuffled each epoch);
  // runs said to be seeded (--setup shuffle=once) pair only with --shuffle once.
  const std::string keras = (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string();
  std::map<std::string, std::string> setup = {
      {"train_size", "300"}, {"val_size", "200"}, {"adam", "torch"}};
  c = compare_sources(
      read_sources({{"", each.string(), std::nullopt}, {"keras", keras, std::nullopt, setup}}),
      "val_accuracy");
  EXPECT_EQ(row_of(c, "shuffle").values[1].value, "each-epoch");
  EXPECT_EQ(row_of(c, "shuffle").values[1].origin, SettingOrigin::kAssumed);
  for (const StrengthVerdict& v : c.verdicts) EXPECT_NE(v.verdict, Verdict::kNotComparable);
  setup["shuffle"] = "once";
  c = compare_sources(
      read_sources({{"", each.string(), std::nullopt}, {"keras", keras, std::nullopt, setup}}),
      "val_accuracy");
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_EQ(v.verdict, Verdict::kNotComparable);
    EXPECT_EQ(v.conditions,
              (std::vector<std::string>{"shuffle once (keras) vs each-epoch (each)"}));
  }
  c = compare_sources(
      read_sources({{"", once.string(), std::nullopt}, {"keras", keras, std::nullopt, setup}}),
      "val_accuracy");
  for (const StrengthVerdict& v : c.verdicts) EXPECT_NE(v.verdict, Verdict::kNotComparable);
  EXPECT_THROW_WITH(given_setting("shuffle", "never", "--setup"), Error,
                    "--setup: shuffle 'never'; expected each-epoch or once");
}

TEST(CompareSetups, TheSameSweepCutShortIsIdenticalOverTheCommonEpochs) {
  TempDir dir;
  const fs::path longer = fixture_sweep(dir / "longer", 300, 2);
  const fs::path shorter = fixture_sweep(dir / "shorter", 300, 1);
  const Comparison c = compare_sources(sweeps({longer, shorter}), "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 2u);
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_EQ(v.verdict, Verdict::kIdentical);
    EXPECT_EQ(v.at_epoch, 1);
    EXPECT_EQ(
        v.conditions,
        (std::vector<std::string>{"at epoch 1, the last both trained (longer 2, shorter 1)"}));
  }
}

TEST(CompareSetups, RunsPairByTheirWholeSetting) {
  TempDir dir;
  const fs::path sweep = fixture_sweep(dir / "sweep", 300, 2, {0.0, 0.5});
  // Keras runs with Dropout 0.5 pair only with the sweep's Dropout 0.5 runs.
  std::map<std::string, std::string> setup = {
      {"train_size", "300"}, {"val_size", "200"}, {"adam", "torch"}, {"dropout", "0.5"}};
  const Comparison c = compare_sources(
      read_sources(
          {{"", sweep.string(), std::nullopt},
           {"keras", (kKeras / "csv" / "l2-{l2}_seed-{seed}.csv").string(), std::nullopt, setup}}),
      "val_accuracy");
  ASSERT_EQ(c.verdicts.size(), 2u);
  for (const StrengthVerdict& v : c.verdicts) {
    EXPECT_EQ(v.dropout, 0.5);
    EXPECT_EQ(c.groups[v.reference].dropout, 0.5);
    EXPECT_EQ(c.groups[v.reference].runs.size(), 2u);  // its two seeds, not the dropout-0 runs
  }
  EXPECT_EQ(c.groups.size(), 6u);  // 2 strengths x 2 rates in the sweep, 2 in Keras
  bool noted = false;
  for (const std::string& note : c.notes) {
    noted = noted || note.find("l2=0.001, l2=0.01 of 'sweep' has no counterpart") == 0;
  }
  EXPECT_TRUE(noted) << "the sweep's Dropout-0 settings pair nothing";
  EXPECT_NE(compare_markdown(c, "cmd").find("### l2=0.001 dropout=0.5"), std::string::npos);
}

}  // namespace
}  // namespace l2sweep::compare
