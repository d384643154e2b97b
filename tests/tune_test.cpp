// `--l2 auto`: the search's rules on constructed scores with known answers (scipy's p-values),
// and the search end to end on the fixture: its folders, no test scores before the final
// sweep, the final runs equal to the searched ones, --resume, and its refusals.
#include "l2sweep/tune/tune.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "cli.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/stop_token.h"
#include "l2sweep/experiment/experiment.h"
#include "l2sweep/tune/search.h"
#include "test_support.h"

namespace l2sweep::tune {
namespace {
namespace fs = std::filesystem;
using l2sweep::testing::TempDir;

Candidate candidate(double l2, std::vector<double> scores, int round = 1) {
  Candidate c;
  c.l2 = l2;
  c.round = round;
  c.scores = scores;
  c.val_accuracy = scores;
  c.val_data_loss = scores;
  return c;
}

/// Four strengths, 3 seeds: 1e-3 is best; 1e-2 is within noise of it (paired p = 2/3);
/// 1e-4 is clearly worse (paired t = 16, p = 0.0039); 1e-1 much worse.
std::vector<Candidate> four() {
  return {candidate(1e-4, {0.80, 0.81, 0.82}), candidate(1e-3, {0.83, 0.835, 0.845}),
          candidate(1e-2, {0.825, 0.84, 0.84}), candidate(1e-1, {0.70, 0.71, 0.69})};
}

TEST(TuneSearch, LogGridKeepsItsEndsAndReadableSteps) {
  const std::vector<double> grid = log_grid(1e-6, 1e-1, 7);
  ASSERT_EQ(grid.size(), 7u);
  EXPECT_EQ(grid.front(), 1e-6);
  EXPECT_EQ(grid.back(), 1e-1);
  EXPECT_EQ(grid[3], 0.0003162);  // 10^-3.5, four significant digits
  for (size_t i = 1; i < grid.size(); ++i) {
    EXPECT_NEAR(std::log10(grid[i] / grid[i - 1]), 5.0 / 6.0, 1e-3);
  }
}

TEST(TuneSearch, BestOneStandardErrorAndTheInterval) {
  const Analysis a = analyse(four(), /*maximise=*/true);
  EXPECT_EQ(a.best, 1u);
  EXPECT_NEAR(a.p_vs_best[2], 0.6666666666666667, 1e-9);  // scipy.stats.t, paired
  EXPECT_NEAR(a.p_vs_best[0], 0.0038835098164954666, 1e-9);
  EXPECT_EQ(a.p_vs_best[1], 1.0);
  EXPECT_EQ(a.indistinguishable, (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(a.interval_low, 1e-3);
  EXPECT_EQ(a.interval_high, 1e-2);
  // Best mean 0.83667, standard error 0.00441: 1e-2's 0.835 is within it, and larger.
  EXPECT_EQ(a.one_se, 2u);
  EXPECT_FALSE(a.at_edge);

  // Minimising (a loss): the same numbers negated give the same answer.
  std::vector<Candidate> losses = four();
  for (Candidate& c : losses) {
    for (double& v : c.scores) v = -v;
  }
  const Analysis b = analyse(losses, /*maximise=*/false);
  EXPECT_EQ(b.best, 1u);
  EXPECT_EQ(b.one_se, 2u);
  EXPECT_EQ(b.interval_high, 1e-2);
}

TEST(TuneSearch, ADivergedStrengthIsNeverBestNorTied) {
  std::vector<Candidate> c = four();
  c.push_back(candidate(3e-3, {0.9, NAN, 0.9}));
  const Analysis a = analyse(c, true);
  EXPECT_EQ(a.best, 1u);
  EXPECT_EQ(a.p_vs_best[4], 0.0);
  EXPECT_FALSE(a.indistinguishable[4]);
  // The diverged strength sits between the best and 1e-2: the interval stops at it.
  EXPECT_EQ(a.interval_high, 1e-3);
}

TEST(TuneSearch, TheNextRoundNarrowsAroundTheInterval) {
  const std::vector<Candidate> c = four();
  SearchSettings settings;
  settings.low = 1e-4;
  settings.high = 1e-1;
  const NextRound next = next_round(c, analyse(c, true), settings, 1);
  // Between the nearest strengths outside [1e-3, 1e-2]: 1e-4 and 1e-1, half a decade apart;
  // the grid's points already tried are left out.
  EXPECT_EQ(next.low, 1e-4);
  EXPECT_EQ(next.high, 1e-1);
  EXPECT_EQ(next.strengths, (std::vector<double>{0.0003162, 0.003162, 0.03162}));
  EXPECT_TRUE(next.stop_reason.empty());
}

TEST(TuneSearch, ItStopsWhenTheNoiseCannotResolveMore) {
  SearchSettings settings;
  settings.low = 1e-4;
  settings.high = 1e-1;
  // The round limit.
  EXPECT_NE(next_round(four(), analyse(four(), true), settings, settings.max_rounds)
                .stop_reason.find("limit of 4 rounds"),
            std::string::npos);
  // Every strength tied with the best.
  std::vector<Candidate> flat = {candidate(1e-4, {0.8, 0.81, 0.79}),
                                 candidate(1e-3, {0.81, 0.80, 0.80}),
                                 candidate(1e-2, {0.79, 0.82, 0.80})};
  EXPECT_NE(next_round(flat, analyse(flat, true), settings, 1).stop_reason.find("cannot resolve"),
            std::string::npos);
  // Round 2's new strengths all tied with the best, though round 1 had clear losers.
  std::vector<Candidate> c = four();
  c.push_back(candidate(3.162e-3, {0.832, 0.838, 0.84}, 2));
  c.push_back(candidate(5e-3, {0.829, 0.84, 0.843}, 2));
  EXPECT_NE(next_round(c, analyse(c, true), settings, 2)
                .stop_reason.find("round 2 is "
                                  "indistinguishable"),
            std::string::npos);
  // A bracket too narrow for the grid.
  std::vector<Candidate> tight = {candidate(1e-3, {0.5, 0.5, 0.5}),
                                  candidate(1.01e-3, {0.9, 0.91, 0.92}),
                                  candidate(1.02e-3, {0.5, 0.5, 0.5})};
  settings.low = 1e-3;
  settings.high = 1.02e-3;
  EXPECT_NE(next_round(tight, analyse(tight, true), settings, 1).stop_reason.find("narrower than"),
            std::string::npos);
}

TEST(TuneCommand, ReadsAutoWithItsRangeAndDefaultsToThreeSeeds) {
  const auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "l2sweep");
    return cli::parse_command_line(static_cast<int>(args.size()), args.data());
  };
  const cli::CommandLine plain = parse({"--l2", "auto"});
  ASSERT_TRUE(plain.config.l2_search);
  EXPECT_EQ(plain.config.l2_search->low, 1e-6);
  EXPECT_EQ(plain.config.l2_search->high, 0.1);
  EXPECT_EQ(plain.config.seeds, 3);
  const cli::CommandLine ranged =
      parse({"--l2", "auto:1e-5:0.01", "--seeds", "4", "--tune-metric", "val_data_loss"});
  EXPECT_EQ(ranged.config.l2_search->low, 1e-5);
  EXPECT_EQ(ranged.config.l2_search->high, 0.01);
  EXPECT_EQ(ranged.config.seeds, 4);
  EXPECT_EQ(ranged.config.tune_metric, "val_data_loss");
  EXPECT_THROW_WITH(parse({"--l2", "auto:1e-3"}), Error, "expected auto or auto:LOW:HIGH");
  EXPECT_THROW_WITH(parse({"--l2", "auto:x:1"}), Error,
                    "--l2 'auto:x:1': expected auto or auto:LOW:HIGH");
  EXPECT_THROW_WITH(parse({"--l2", "auto:0.1:0.01"}).config.validate(), Error,
                    "expected 1e-12 <= LOW < HIGH <= 100");
  EXPECT_THROW_WITH(parse({"--l2", "auto", "--tune-metric", "loss"}).config.validate(), Error,
                    "--tune-metric 'loss'");
  EXPECT_THROW_WITH(parse({"--l2", "auto", "--shard", "0/2", "--out", "x"}).config.validate(),
                    Error, "run it as one job");
  EXPECT_THROW_WITH(parse({"--l2", "auto", "--shard-count", "2"}), Error,
                    "--shard-count with --l2 auto");
  {
    // A Slurm array would run the whole search once per task into one folder: refused at once;
    // an array of one task is one job.
    testing::ScopedEnvironment array({{"SLURM_ARRAY_TASK_ID", "3"},
                                      {"SLURM_ARRAY_TASK_MIN", "0"},
                                      {"SLURM_ARRAY_TASK_COUNT", "4"}});
    EXPECT_THROW_WITH(parse({"--l2", "auto"}), Error,
                      "--l2 auto in Slurm array task 3 (SLURM_ARRAY_TASK_ID=3, one of 4): a "
                      "search runs as one job");
  }
  {
    testing::ScopedEnvironment single({{"SLURM_ARRAY_TASK_ID", "0"},
                                       {"SLURM_ARRAY_TASK_MIN", "0"},
                                       {"SLURM_ARRAY_TASK_COUNT", "1"}});
    EXPECT_FALSE(parse({"--l2", "auto"}).config.shard.has_value());
  }
  EXPECT_THROW_WITH(parse({"--l2", "0.1,auto"}), Error, "auto is the whole value");
  EXPECT_THROW_WITH(parse({"--l2", "auto:1e-300:1"}).config.validate(), Error, "1e-12 <= LOW");
  EXPECT_THROW_WITH(parse({"--l2", "auto", "--score-test", "off"}).config.validate(), Error,
                    "--score-test off with --l2 auto");
  EXPECT_THROW_WITH(parse({"--l2", "0.1", "--tune-metric", "val_data_loss"}).config.validate(),
                    Error, "expected --l2 auto");
  EXPECT_THROW_WITH(parse({"--l2", "0.1", "--tune-metric", "bogus"}).config.validate(), Error,
                    "--tune-metric 'bogus': expected val_accuracy or val_data_loss");
}

/// A small search on the fixture: 4 strengths a round, at most 2 rounds.
SweepConfig small_search(const fs::path& out) {
  SweepConfig config;
  config.data_dir = l2sweep::testing::fixture_dir().string();
  config.val_size = 200;
  config.train_size = 300;
  config.epochs = 2;
  config.seeds = 3;
  config.device = "cpu";
  config.l2_search = L2Search{1e-5, 10.0};
  config.out_dir = out.string();
  return config;
}

/// 4 strengths a round, at most 2 rounds, and no l2 = 0 candidate: on the fixture L2 does not
/// help, so with the control the search answers "no L2" after round 1, and these tests are
/// about the rounds (TheControlWinsAndTheAnswerIsNoL2 searches with it).
SearchSettings small_settings() {
  SearchSettings settings;
  settings.grid_points = 4;
  settings.max_rounds = 2;
  settings.try_control = false;
  return settings;
}

TEST(TuneEndToEnd, SearchesScoresTheTestSetOnlyAtTheEndAndResumes) {
  TempDir dir;
  std::FILE* sink = std::tmpfile();
  const TuneResult first = tune_l2(small_search(dir / "a"), "test", sink, {}, small_settings());
  ASSERT_TRUE(first.searched);
  EXPECT_GE(first.rounds.size(), 1u);
  EXPECT_EQ(first.rounds[0].strengths, (std::vector<double>{1e-5, 0.001, 0.1, 10.0}));
  ASSERT_EQ(first.rounds.size(), 2u) << first.stop_reason;
  EXPECT_TRUE(first.final_matches_search);
  ASSERT_FALSE(first.test_accuracy.empty());
  EXPECT_EQ(first.test_accuracy.front().first, first.candidates[first.analysis.best].l2);

  // No peeking: the rounds' runs have no test score; the final runs have one.
  const Json round = parse_json(*read_text_file(dir / "a" / "round-1" / "summary.json"), "x");
  for (const Json& run : round["runs"]) EXPECT_TRUE(run["test_accuracy"].is_null());
  const Json final_runs = parse_json(*read_text_file(dir / "a" / "final" / "summary.json"), "x");
  for (const Json& run : final_runs["runs"]) EXPECT_TRUE(run["test_accuracy"].is_number());
  const Json summary = parse_json(*read_text_file(dir / "a" / "summary.json"), "x");
  EXPECT_EQ(summary["tuning"]["candidates"].size(), first.candidates.size());
  EXPECT_EQ(summary["tuning"]["best"]["l2"], first.candidates[first.analysis.best].l2);
  EXPECT_TRUE(summary["tuning"]["final"]["matches_search_bit_for_bit"].get<bool>());
  EXPECT_NE(read_text_file(dir / "a" / "report.md")->find("## Every candidate"), std::string::npos);

  // --resume on the finished search replays it: the same candidates, bit for bit, and no file
  // of the search changes (its lock file included: nothing was trained, so nothing is claimed).
  const std::vector<fs::path> outputs = {"summary.json", "report.md", ".l2sweep.tune.lock",
                                         "tuning.cfg"};
  std::vector<std::optional<std::string>> finished;
  for (const fs::path& file : outputs) finished.push_back(read_text_file(dir / "a" / file));
  SweepConfig again = small_search(dir / "a");
  again.resume = true;
  const TuneResult replayed = tune_l2(again, "resumed", sink, {}, small_settings());
  for (size_t i = 0; i < outputs.size(); ++i) {
    EXPECT_EQ(read_text_file(dir / "a" / outputs[i]), finished[i]) << outputs[i];
  }
  ASSERT_EQ(replayed.candidates.size(), first.candidates.size());
  for (size_t i = 0; i < first.candidates.size(); ++i) {
    EXPECT_EQ(replayed.candidates[i].l2, first.candidates[i].l2);
    EXPECT_EQ(replayed.candidates[i].scores, first.candidates[i].scores);
  }
  EXPECT_EQ(replayed.analysis.best, first.analysis.best);

  // A --resume refused in round 2 (a damaged checkpoint) leaves the search's files byte for
  // byte as they were: finished rounds are read back, never rewritten.
  fs::copy(dir / "a", dir / "damaged", fs::copy_options::recursive);
  fs::path damaged_checkpoint;
  for (const auto& entry : fs::directory_iterator(dir / "damaged" / "round-2" / "checkpoints")) {
    damaged_checkpoint = entry.path();
  }
  std::vector<uint8_t> bytes = l2sweep::testing::read_bytes(damaged_checkpoint);
  bytes[bytes.size() / 2] ^= 0x40;
  l2sweep::testing::write_bytes(damaged_checkpoint, bytes);
  const std::vector<fs::path> kept = {"summary.json",
                                      "report.md",
                                      "tuning.cfg",
                                      fs::path("round-1") / "summary.json",
                                      fs::path("round-1") / "metrics.csv",
                                      fs::path("final") / "summary.json"};
  std::vector<std::string> before;
  for (const fs::path& file : kept) before.push_back(*read_text_file(dir / "damaged" / file));
  SweepConfig damaged = small_search(dir / "damaged");
  damaged.resume = true;
  EXPECT_THROW_WITH(tune_l2(damaged, "test", sink, {}, small_settings()), Error,
                    "damaged checkpoint");
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(*read_text_file(dir / "damaged" / kept[i]), before[i]) << kept[i];
  }

  // Interrupted once round 2 has begun, then resumed: the same answer as the uninterrupted
  // search, bit for bit.
  StopSource stop;
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    while (!done && !fs::exists(dir / "b" / "round-2" / "checkpoints")) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop.request_stop();
  });
  const TuneResult cut =
      tune_l2(small_search(dir / "b"), "test", sink, stop.token(), small_settings());
  done = true;
  stopper.join();
  ASSERT_TRUE(cut.interrupted);
  ASSERT_EQ(cut.rounds.size(), 2u);
  EXPECT_FALSE(cut.rounds[1].finished);
  EXPECT_EQ(cut.candidates.size(), first.rounds[0].strengths.size());  // round 1's only
  const std::string partial = *read_text_file(dir / "b" / "report.md");
  EXPECT_NE(partial.find("## Every candidate"), std::string::npos);
  SweepConfig resume_b = small_search(dir / "b");
  resume_b.resume = true;
  const TuneResult resumed = tune_l2(resume_b, "test", sink, {}, small_settings());
  ASSERT_EQ(resumed.candidates.size(), first.candidates.size());
  for (size_t i = 0; i < first.candidates.size(); ++i) {
    EXPECT_EQ(resumed.candidates[i].l2, first.candidates[i].l2);
    EXPECT_EQ(resumed.candidates[i].scores, first.candidates[i].scores);
  }
  EXPECT_EQ(resumed.test_accuracy, first.test_accuracy);
  EXPECT_GT(resumed.rounds[1].seconds, 0.0);

  // A round is an ordinary sweep: it resumes on its own with its recorded settings.
  SweepConfig round_one = small_search(dir / "a" / "round-1");
  round_one.l2_search.reset();
  round_one.l2_strengths = first.rounds[0].strengths;
  round_one.score_test = false;
  round_one.resume = true;
  const ExperimentResult again_round = run_experiment(round_one, "test", sink);
  EXPECT_EQ(again_round.runs.size(), first.rounds[0].strengths.size() * 3);
  std::fclose(sink);
}

TEST(TuneEndToEnd, TheControlWinsAndTheAnswerIsNoL2) {
  TempDir dir;
  const fs::path console_file = dir / "console.txt";
  std::FILE* console = std::fopen(console_file.c_str(), "w");
  SearchSettings settings = small_settings();
  settings.try_control = true;
  const TuneResult result = tune_l2(small_search(dir / "a"), "test", console, {}, settings);
  std::fclose(console);
  ASSERT_TRUE(result.searched);
  EXPECT_EQ(result.rounds[0].strengths, (std::vector<double>{0, 1e-5, 0.001, 0.1, 10.0}));
  // On the fixture, two epochs of 300 images: no strength beats no L2 beyond the seeds' noise.
  ASSERT_TRUE(result.analysis.no_l2) << result.stop_reason;
  EXPECT_EQ(result.analysis.use, 0.0);
  EXPECT_EQ(result.rounds.size(), 1u) << "the search stops at no L2 instead of narrowing";
  EXPECT_NE(result.stop_reason.find("l2 = 0 (no L2)"), std::string::npos) << result.stop_reason;
  // No "widen the range" for an answer no range of positive strengths holds.
  const std::string printed = *read_text_file(console_file);
  EXPECT_NE(printed.find("--l2 auto: use l2 = 0: no L2"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("widen"), std::string::npos) << printed;
  const Json summary = parse_json(*read_text_file(dir / "a" / "summary.json"), "x");
  EXPECT_EQ(summary["tuning"]["use"]["l2"].get<double>(), 0.0);
  EXPECT_TRUE(summary["tuning"]["use"]["no_l2"].get<bool>());
  EXPECT_NE(read_text_file(dir / "a" / "report.md")->find("**Use l2 = 0: no L2.**"),
            std::string::npos);
  // l2 = 0 is scored on the test set with the best.
  EXPECT_EQ(result.test_accuracy.front().first, 0.0);
  EXPECT_TRUE(result.final_matches_search);
}

TEST(TuneSearch, NoL2WhenTheControlIsBestOrCannotBeToldFromTheBest) {
  // The control is the best.
  std::vector<Candidate> c = four();
  c.insert(c.begin(), candidate(0, {0.84, 0.845, 0.85}));
  Analysis a = analyse(c, true);
  EXPECT_EQ(a.best, 0u);
  EXPECT_TRUE(a.no_l2);
  EXPECT_EQ(a.use, 0.0);
  EXPECT_FALSE(a.at_edge) << "0 is no edge to widen past";
  SearchSettings settings;
  NextRound next = next_round(c, a, settings, 1);
  EXPECT_TRUE(next.strengths.empty());
  EXPECT_NE(next.stop_reason.find("l2 = 0 (no L2) is the best"), std::string::npos);
  // The control within the seeds' noise of the best (1e-3): still no L2.
  c[0] = candidate(0, {0.829, 0.836, 0.843});
  a = analyse(c, true);
  EXPECT_EQ(a.best, 2u);
  EXPECT_TRUE(a.indistinguishable[0]);
  EXPECT_TRUE(a.no_l2);
  EXPECT_EQ(a.use, 0.0);
  next = next_round(c, a, settings, 1);
  EXPECT_NE(next.stop_reason.find("cannot be told from the best, 0.001"), std::string::npos)
      << next.stop_reason;
  // The control clearly worse: use the best, and the lowest positive strength is the edge.
  c[0] = candidate(0, {0.70, 0.705, 0.71});
  a = analyse(c, true);
  EXPECT_FALSE(a.no_l2);
  EXPECT_EQ(a.use, 1e-3);
  EXPECT_FALSE(a.at_edge);
  std::vector<Candidate> low_best = {candidate(0, {0.70, 0.705, 0.71}),
                                     candidate(1e-4, {0.85, 0.851, 0.852}),
                                     candidate(1e-3, {0.80, 0.81, 0.80})};
  EXPECT_TRUE(analyse(low_best, true).at_edge);
}

TEST(TuneSearch, TheSameDifferenceOnEverySeedIsNoEvidence) {
  // Two seeds, the control 0.03 behind 0.01 on both: zero variance is untestable, so l2 = 0
  // cannot be told from the best and the answer is no L2 (not a p of 1e-15 for 0.01).
  const std::vector<Candidate> c = {candidate(0, {0.65, 0.665}), candidate(1e-2, {0.68, 0.695}),
                                    candidate(1, {0.40, 0.42})};
  const Analysis a = analyse(c, true);
  EXPECT_EQ(a.best, 1u);
  EXPECT_TRUE(std::isnan(a.p_vs_best[0]));
  EXPECT_TRUE(a.indistinguishable[0]);
  EXPECT_TRUE(a.no_l2);
}

TEST(TuneEndToEnd, MinimisesTheValidationCrossEntropy) {
  TempDir dir;
  std::FILE* sink = std::tmpfile();
  SweepConfig config = small_search(dir / "ce");
  config.tune_metric = "val_data_loss";
  const TuneResult result = tune_l2(config, "t", sink, {}, small_settings());
  std::fclose(sink);
  ASSERT_TRUE(result.searched);
  const Score best = score_of(result.candidates[result.analysis.best].scores);
  for (const Candidate& c : result.candidates) {
    const Score s = score_of(c.scores);
    if (!std::isnan(s.mean)) {
      EXPECT_GE(s.mean, best.mean) << c.l2;
    }
    EXPECT_EQ(c.scores, c.val_data_loss);
  }
}

TEST(TuneEndToEnd, Refusals) {
  TempDir dir;
  std::FILE* sink = std::tmpfile();
  SweepConfig one_seed = small_search(dir / "x");
  one_seed.seeds = 1;
  EXPECT_THROW_WITH(tune_l2(one_seed, "t", sink, {}, small_settings()), Error,
                    "expected 2 or more seeds");
  EXPECT_FALSE(fs::exists(dir / "x"));

  SweepConfig config = small_search(dir / "s");
  config.epochs = 1;
  tune_l2(config, "t", sink, {}, small_settings());
  EXPECT_THROW_WITH(tune_l2(config, "t", sink, {}, small_settings()), Error,
                    "holds an --l2 auto search; add --resume");
  config.resume = true;
  config.epochs = 2;
  EXPECT_THROW_WITH(tune_l2(config, "t", sink, {}, small_settings()), Error,
                    "--resume: --epochs 2 differs from the search");
  config.epochs = 1;
  // The search's own rules are not options: a change names them as rules.
  SearchSettings other_rules = small_settings();
  other_rules.max_rounds += 1;
  EXPECT_THROW_WITH(tune_l2(config, "t", sink, {}, other_rules), Error,
                    "--resume: the search in " + (dir / "s").string() +
                        " was made with other search rules (max-rounds");
  // A tuning.cfg from before --shuffle existed reshuffled every epoch, and resumes so.
  Json saved = parse_json(*read_text_file(dir / "s" / "tuning.cfg"), dir / "s" / "tuning.cfg");
  ASSERT_EQ(saved["settings"].erase("shuffle"), 1u);
  write_file_atomically(dir / "s" / "tuning.cfg", json_text(saved));
  EXPECT_NO_THROW(tune_l2(config, "t", sink, {}, small_settings()));
  config.shuffle = Shuffle::kOnce;
  EXPECT_THROW_WITH(tune_l2(config, "t", sink, {}, small_settings()), Error,
                    "--resume: --shuffle once differs from the search in " + (dir / "s").string() +
                        " (each-epoch)");

  fs::create_directories(dir / "foreign");
  write_file_atomically(dir / "foreign" / "notes.txt", "mine");
  SweepConfig foreign = small_search(dir / "foreign");
  EXPECT_THROW_WITH(tune_l2(foreign, "t", sink, {}, small_settings()), Error,
                    "not empty; expected a new or empty folder (results are never overwritten); it "
                    "holds no --l2 auto search");

  // Refused before its first round (no data here): nothing is left, so the same command
  // runs once the data is there.
  SweepConfig no_data = small_search(dir / "nodata");
  no_data.data_dir = (dir / "missing").string();
  EXPECT_THROW(tune_l2(no_data, "t", sink, {}, small_settings()), Error);
  EXPECT_FALSE(fs::exists(dir / "nodata"));
  fs::create_directories(dir / "empty");
  SweepConfig into_empty = small_search(dir / "empty");
  into_empty.data_dir = (dir / "missing").string();
  EXPECT_THROW(tune_l2(into_empty, "t", sink, {}, small_settings()), Error);
  EXPECT_TRUE(fs::is_empty(dir / "empty"));

  SweepConfig deep = small_search(dir / "deep" / "er" / "o");
  deep.data_dir = (dir / "missing").string();
  EXPECT_THROW(tune_l2(deep, "t", sink, {}, small_settings()), Error);
  EXPECT_FALSE(fs::exists(dir / "deep"));

  SweepConfig narrow = small_search(dir / "narrow");
  narrow.l2_search = L2Search{1e-6, 1.0001e-6};
  EXPECT_THROW_WITH(tune_l2(narrow, "t", sink, {}, small_settings()), Error,
                    "expected a range of at least 0.12 decades");
  EXPECT_FALSE(fs::exists(dir / "narrow"));
  std::fclose(sink);
}

}  // namespace
}  // namespace l2sweep::tune
