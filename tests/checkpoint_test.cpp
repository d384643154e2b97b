#include "l2sweep/train/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/config/options.h"
#include "l2sweep/config/sweep_file.h"
#include "l2sweep/data/data.h"
#include "l2sweep/sweep/runner.h"
#include "l2sweep/train/model.h"
#include "test_support.h"

namespace l2sweep {
namespace {

namespace fs = std::filesystem;

const Datasets& fixture_data() {
  static const Datasets data = load_datasets({testing::fixture_dir(), 200, int64_t{300}});
  return data;
}

std::unique_ptr<Trainer> make_trainer(std::string engine) {
  at::Generator generator = make_cpu_generator(4);
  TrainOptions options;
  options.shuffle_seed = 4;
  options.engine = engine;
  return std::make_unique<Trainer>(make_model(784, kHiddenUnits, 10, generator), /*l2=*/1e-3,
                                   options, torch::kCPU);
}

class Checkpoint : public ::testing::TestWithParam<std::string> {};

/// A fresh checkpoints/ folder of the default sweep, and the run most tests save in it.
class CheckpointFolder : public ::testing::Test {
 protected:
  testing::TempDir dir;
  const CheckpointStore store{dir / "checkpoints"};
  const RunSpec spec = testing::a_run().l2(1e-3).seed(4);
};

TEST_P(Checkpoint, ContinuesTrainingBitForBit) {
  const std::string engine = GetParam();
  testing::TempDir dir;
  const CheckpointStore store(dir / "checkpoints");
  const RunSpec spec = testing::a_run().l2(1e-3).seed(4);

  const auto uninterrupted = make_trainer(engine);
  std::vector<TrainMetrics> expected;
  for (int epoch = 0; epoch < 3; ++epoch)
    expected.push_back(uninterrupted->train_epoch(fixture_data().train)[0]);

  const auto first = make_trainer(engine);
  RunResult progress;
  progress.spec = spec;
  progress.status = RunStatus::kInterrupted;
  const TrainMetrics epoch1 = first->train_epoch(fixture_data().train)[0];
  EpochMetrics m;
  m.epoch = 1;
  m.loss = epoch1.loss;
  progress.history.push_back(m);
  progress.train_seconds = 1.5;
  store.save(spec, progress, *first);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "checkpoints"), fs::directory_iterator()), 1)
      << "a temporary file was left behind";

  const auto resumed = make_trainer(engine);
  const std::optional<RunResult> loaded = store.load(spec, *resumed);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->status, RunStatus::kInterrupted);
  ASSERT_EQ(loaded->history.size(), 1u);
  EXPECT_EQ(loaded->history[0].loss, epoch1.loss);
  EXPECT_EQ(loaded->train_seconds, 1.5);
  EXPECT_FALSE(loaded->test.has_value());
  for (int epoch = 1; epoch < 3; ++epoch) {
    const TrainMetrics got = resumed->train_epoch(fixture_data().train)[0];
    EXPECT_EQ(got.loss, expected[static_cast<size_t>(epoch)].loss) << "epoch " << epoch + 1;
    EXPECT_EQ(got.accuracy, expected[static_cast<size_t>(epoch)].accuracy);
  }
  const auto a = uninterrupted->model(0)->parameters();
  const auto b = resumed->model(0)->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

INSTANTIATE_TEST_SUITE_P(EveryEngine, Checkpoint, ::testing::ValuesIn(testing::engine_names()),
                         [](const auto& test) { return test.param; });

TEST_F(CheckpointFolder, HasNothingForARunThatNeverSaved) {
  const auto trainer = make_trainer("fused");
  EXPECT_FALSE(store.load(testing::a_run().l2(0.5).seed(1), *trainer).has_value());
}

TEST_F(CheckpointFolder, RejectsADamagedFileNamingIt) {
  const auto trainer = make_trainer("fused");
  RunResult progress;
  progress.spec = spec;
  store.save(spec, progress, *trainer);
  // Flip bytes in the middle, then cut the end off.
  auto bytes = testing::read_bytes(store.path_for(spec));
  for (size_t i = bytes.size() / 3; i < bytes.size() / 2; ++i) bytes[i] ^= 0x55;
  bytes.resize(bytes.size() * 3 / 4);
  testing::write_bytes(store.path_for(spec), bytes);
  try {
    store.load(spec, *trainer);
    FAIL() << "loaded a damaged checkpoint";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(std::string(e.what()).find(store.path_for(spec).string() + ": damaged checkpoint"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CheckpointFolder, RejectsTheCheckpointOfAnotherRun) {
  const auto trainer = make_trainer("fused");
  RunResult progress;
  store.save(spec, progress, *trainer);
  fs::rename(store.path_for(spec), store.path_for(testing::a_run().l2(1e-2).seed(4)));
  EXPECT_THROW_WITH(store.load(testing::a_run().l2(1e-2).seed(4), *trainer), Error,
                    "checkpoint of another run; expected l2=0.01 seed 4");
}

TEST_F(CheckpointFolder, RefusesToContinueWithAnotherEngineNamingBoth) {
  // A sweep started with --engine auto on the CPU (fused) and resumed on a GPU (device).
  const auto fused = make_trainer("fused");
  RunResult progress;
  progress.spec = spec;
  progress.status = RunStatus::kInterrupted;
  store.save(spec, progress, *fused);
  const auto device = make_trainer("tensor");
  try {
    store.load(spec, *device);
    FAIL() << "continued a fused run with the tensor engine";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_EQ(std::string(e.what()),
              store.path_for(spec).string() +
                  ": trained with --engine fused, but this command would continue it with "
                  "--engine tensor; resume with the --engine and --device the sweep started with");
  }
}

/// A checkpoint of `spec` with `epochs` epochs done, in a store for `sweep`.
void save_progress(const CheckpointStore& store, const RunSpec& spec, int64_t epochs,
                   RunStatus status) {
  const auto trainer = make_trainer("fused");
  RunResult progress;
  progress.spec = spec;
  progress.status = status;
  for (int64_t e = 1; e <= epochs; ++e) {
    EpochMetrics m;
    m.epoch = e;
    progress.history.push_back(m);
  }
  if (status == RunStatus::kCompleted) progress.test = EvalMetrics{1, 1, 0, 0.5};
  store.save(spec, progress, *trainer);
}

TEST_F(CheckpointFolder, SaysTheTrueSizeOfACheckpointGrownPastItsHeaderWithoutReadingIt) {
  save_progress(store, spec, 1, RunStatus::kInterrupted);
  const auto saved = std::filesystem::file_size(store.path_for(spec));
  const uintmax_t grown = uintmax_t{6} << 30;  // 6 GiB, sparse: nothing is written
  std::filesystem::resize_file(store.path_for(spec), grown);
  EXPECT_THROW_WITH(store.load(spec, *make_trainer("fused")), Error,
                    fmt::format("{}: damaged checkpoint ({} bytes, its header says {})",
                                store.path_for(spec).string(), grown, saved));
}

TEST_F(CheckpointFolder, RejectsBitsFlippedWithoutChangingTheSize) {
  save_progress(store, spec, 2, RunStatus::kInterrupted);
  auto bytes = testing::read_bytes(store.path_for(spec));
  bytes[bytes.size() / 2] ^= 0x01;  // one bit, deep inside the model's weights
  testing::write_bytes(store.path_for(spec), bytes);
  EXPECT_THROW_WITH(store.progress(spec), Error,
                    store.path_for(spec).string() +
                        ": damaged checkpoint (its CRC-32C does not match its bytes)");
}

TEST(CheckpointStore, RejectsACheckpointTrainedWithOtherSettings) {
  testing::TempDir dir;
  SweepConfig other;
  other.learning_rate = 0.01;
  other.batch_size = 8;
  const RunSpec spec = testing::a_run().l2(1e-3).seed(4);
  save_progress(CheckpointStore(dir / "checkpoints", other), spec, 2, RunStatus::kInterrupted);
  const CheckpointStore mine(dir / "checkpoints", SweepConfig{});
  try {
    mine.progress(spec);
    FAIL() << "accepted a checkpoint of other settings";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_EQ(std::string(e.what()),
              mine.path_for(spec).string() +
                  ": trained with --batch-size 8, this sweep 32; expected a checkpoint of this "
                  "sweep");
  }
}

TEST(ResumeConfig, ACheckpointFromBeforeAnOptionExistedTrainedWithItsOldValue) {
  SweepConfig config;
  Json settings = Json::parse(run_settings_text(config));
  ASSERT_EQ(settings.erase("adam"), 1u);  // as written before --adam existed
  EXPECT_EQ(run_settings_difference(settings.dump(), config), std::nullopt);
  config.adam = AdamVariant::kKeras;
  EXPECT_EQ(run_settings_difference(settings.dump(), config), "--adam torch, this sweep keras");
}

TEST(ResumeConfig, ASweepFromBeforeShuffleWasReshuffledEveryEpochAndContinuesOnlySo) {
  testing::TempDir dir;
  SweepConfig config;
  Json settings = Json::parse(run_settings_text(config));
  ASSERT_EQ(settings.erase("shuffle"), 1u);  // as written before --shuffle existed
  EXPECT_EQ(run_settings_difference(settings.dump(), config), std::nullopt);
  config.shuffle = Shuffle::kOnce;
  EXPECT_EQ(run_settings_difference(settings.dump(), config),
            "--shuffle each-epoch, this sweep once");
  // A sweep started with --shuffle once resumes only with it.
  std::ofstream(dir / kSweepConfigFile) << sweep_config_text(config);
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
  config.shuffle = Shuffle::kEachEpoch;
  EXPECT_THROW_WITH(check_resume_config(dir.path(), config), Error,
                    "--resume: --shuffle differs from the sweep in " + dir.path().string() +
                        ": it ran with once, this command asks for each-epoch");
}

TEST(CheckpointStore, NeverCallsARunCompletedThatLacksEpochs) {
  testing::TempDir dir;
  SweepConfig four;
  four.epochs = 4;
  const RunSpec spec = testing::a_run().l2(1e-3).seed(4);
  save_progress(CheckpointStore(dir / "checkpoints", four), spec, 4, RunStatus::kCompleted);
  EXPECT_EQ(CheckpointStore(dir / "checkpoints", four).progress(spec)->status,
            RunStatus::kCompleted);
  SweepConfig six;  // sweep.cfg edited from 4 to 6 epochs: the settings say otherwise
  six.epochs = 6;
  EXPECT_THROW_WITH(CheckpointStore(dir / "checkpoints", six).progress(spec), Error,
                    "trained with --epochs 4, this sweep 6");
  // A completed record with fewer epochs than the sweep has, under the same settings.
  save_progress(CheckpointStore(dir / "checkpoints", four), spec, 3, RunStatus::kCompleted);
  EXPECT_THROW_WITH(CheckpointStore(dir / "checkpoints", four).progress(spec), Error,
                    "it says completed after 3 of 4 epochs");
}

TEST(CheckpointStore, ReadsTheFirstFormatWithItsFixedColumns) {
  // l2sweep before named columns: format 1, the history in this fixed order, in a sweep whose
  // sweep.cfg l2sweep 0.1 wrote.
  testing::TempDir dir;
  std::ofstream(dir / kSweepConfigFile) << "epochs=4\n";
  const CheckpointStore store(dir / "checkpoints");
  const RunSpec spec = testing::a_run().l2(1e-3).seed(4);
  const auto trainer = make_trainer("fused");
  torch::serialize::OutputArchive archive;
  archive.write("format", torch::tensor({int64_t{1}}, torch::kInt64));
  archive.write("run.l2", torch::tensor({1e-3}, torch::kFloat64));
  archive.write("run.seed", torch::tensor({int64_t{4}}, torch::kInt64));
  archive.write("status", torch::tensor({int64_t{2}}, torch::kInt64));  // interrupted
  // epoch, loss, accuracy, data_loss, val_loss, val_accuracy, val_data_loss, penalty, w1_norm,
  // epoch_seconds
  archive.write("history",
                torch::tensor({1.0, 0.5, 0.8, 0.4, 0.6, 0.7, 0.55, 0.05, 7.0, 1.5}, torch::kFloat64)
                    .view({1, 10}));
  archive.write("train_seconds", torch::tensor({1.5}, torch::kFloat64));
  archive.write("device", c10::IValue(std::string("cpu")));
  archive.write("test", torch::tensor({0.0, 0.0, 0.0, 0.0, 0.0}, torch::kFloat64));
  trainer->save_state(0, archive);
  archive.save_to(store.path_for(spec).string());

  const auto loaded = store.load(spec, *trainer);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->status, RunStatus::kInterrupted);
  ASSERT_EQ(loaded->history.size(), 1u);
  const EpochMetrics& m = loaded->history[0];
  EXPECT_EQ(m.epoch, 1);
  EXPECT_EQ(m.loss, 0.5);
  EXPECT_EQ(m.accuracy, 0.8);
  EXPECT_EQ(m.data_loss, 0.4);
  EXPECT_EQ(m.val_loss, 0.6);
  EXPECT_EQ(m.val_accuracy, 0.7);
  EXPECT_EQ(m.val_data_loss, 0.55);
  EXPECT_EQ(m.penalty, 0.05);
  EXPECT_EQ(m.w1_norm, 7.0);
  EXPECT_EQ(m.epoch_seconds, 1.5);
  EXPECT_EQ(loaded->engine, "");  // not recorded then

  // The same file in a sweep that began with checksummed checkpoints was put there by hand.
  std::ofstream(dir / kSweepConfigFile) << sweep_config_text(SweepConfig{});
  EXPECT_THROW_WITH(CheckpointStore(dir / "checkpoints").load(spec, *trainer), Error,
                    "damaged checkpoint (format 1 without its checksummed header, in a sweep");
}

TEST_F(CheckpointFolder, RefusesACurrentFormatWithoutItsHeader) {
  save_progress(store, spec, 1, RunStatus::kInterrupted);
  std::string bytes = *read_text_file(store.path_for(spec));
  const size_t archive = bytes.find("PK");  // the zip archive behind the header
  ASSERT_NE(archive, std::string::npos);
  std::ofstream(store.path_for(spec), std::ios::binary) << bytes.substr(archive);
  EXPECT_THROW_WITH(store.progress(spec), Error,
                    "damaged checkpoint (format 4 without its checksummed header)");
}

TEST_F(CheckpointFolder, RecordsWhatTrainedTheRun) {
  const auto trainer = make_trainer("fused");
  RunResult progress;
  progress.spec = spec;
  progress.status = RunStatus::kInterrupted;
  progress.engine = trainer->engine().description();
  store.save(spec, progress, *trainer);
  EXPECT_EQ(store.progress(spec)->engine,
            "Adam, fused CPU step (torch::optim::Adam's update in one pass)");
}

TEST(ResumeConfig, AcceptsTheSameOptionsAndNamesTheFirstThatDiffers) {
  testing::TempDir dir;
  SweepConfig config;
  config.train_size = 500;
  std::ofstream(dir / kSweepConfigFile) << sweep_config_text(config);
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
  config.jobs = 7;  // does not change the numbers
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
  config.learning_rate = 0.01;
  EXPECT_THROW_WITH(check_resume_config(dir.path(), config), Error,
                    "--resume: --lr differs from the sweep in " + dir.path().string() +
                        ": it ran with 0.001, this command asks for 0.01");
  config.learning_rate = 0.001;
  config.train_size.reset();
  EXPECT_THROW_WITH(check_resume_config(dir.path(), config), Error,
                    "--train-size differs from the sweep in " + dir.path().string() +
                        ": it ran with 500, this command asks for all");
}

TEST(ResumeConfig, ARenamedValueIsTheSameSettingUnderEitherName) {
  // A sweep begun with --engine device (the tensor engine's old name) continues with either.
  testing::TempDir dir;
  SweepConfig config;
  config.engine = "device";
  std::ofstream(dir / kSweepConfigFile) << sweep_config_text(config);
  const std::string checkpoint_settings = run_settings_text(config);
  config.engine = "tensor";
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
  EXPECT_EQ(run_settings_difference(checkpoint_settings, config), std::nullopt);
  config.engine = "fused";
  EXPECT_THROW_WITH(check_resume_config(dir.path(), config), Error,
                    "it ran with device, this command asks for fused");
  EXPECT_EQ(current_value("engine", "device"), "tensor");
  EXPECT_EQ(current_value("engine", "fused"), "fused");
  EXPECT_EQ(current_value("adam", "device"), "device");
}

TEST_F(CheckpointFolder, AnEngineAskedForByItsOldNameIsTheTensorEngineAndContinuesAsIt) {
  const auto old_name = make_trainer("device");
  EXPECT_EQ(old_name->engine().options().engine, "tensor");  // it says its name now
  RunResult progress;
  progress.spec = spec;
  progress.status = RunStatus::kInterrupted;
  store.save(spec, progress, *old_name);
  EXPECT_NO_THROW(store.load(spec, *make_trainer("tensor")));
  EXPECT_THROW_WITH(store.load(spec, *make_trainer("fused")), Error,
                    "would continue it with --engine fused");
}

TEST(TrainerState, WrittenUnderTheEnginesOldNameLoadsIntoTheTensorEngineOnly) {
  // A checkpoint's state as l2sweep wrote it before the rename: "engine" is "device".
  const auto tensor = make_trainer("tensor");
  torch::serialize::OutputArchive archive;
  tensor->save_state(0, archive);
  archive.write("engine", c10::IValue(std::string("device")));
  std::stringstream bytes;
  archive.save_to(bytes);
  const auto load_into = [&](const std::string& engine) {
    bytes.seekg(0);
    torch::serialize::InputArchive saved;
    saved.load_from(bytes);
    make_trainer(engine)->load_state(0, saved);
  };
  EXPECT_NO_THROW(load_into("tensor"));
  EXPECT_THROW_WITH(load_into("fused"), Error,
                    "trained with --engine device, but this command would continue it with "
                    "--engine fused");
}

TEST(ResumeConfig, ReadsTheFirstFormatWhichLeftCudaGraphsOutWhenOn) {
  // l2sweep 0.1's sweep.cfg: `name=value` lines, cuda-graphs only when off.
  const std::string old_text =
      "l2=0.0001,0.001,0.01\nepochs=15\nbatch-size=32\nlr=0.001\nseed=0\nseeds=1\n"
      "val-size=10000\ntrain-size=all\ndata-dir=/usr/share/datasets/fashion-mnist\n"
      "device=auto\nengine=auto\n";
  testing::TempDir dir;
  std::ofstream(dir / kSweepConfigFile) << old_text;
  SweepConfig config;
  EXPECT_TRUE(read_sweep_config(dir.path()).cuda_graphs);
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
  config.cuda_graphs = false;
  EXPECT_THROW_WITH(check_resume_config(dir.path(), config), Error,
                    "--cuda-graphs differs from the sweep in " + dir.path().string() +
                        ": it ran with on, this command asks for off");
  testing::TempDir other;
  std::ofstream(other / kSweepConfigFile) << old_text << "cuda-graphs=off\n";
  EXPECT_FALSE(read_sweep_config(other.path()).cuda_graphs);
  EXPECT_NO_THROW(check_resume_config(other.path(), config));
}

TEST(SweepFile, IsJsonThatHoldsAnyPathAndReadsBackEveryOption) {
  testing::TempDir dir;
  SweepConfig config;
  config.data_dir = "/data/with a\nnewline and \"quotes\"";
  config.cuda_graphs = false;
  config.train_size = 700;
  std::ofstream(dir / kSweepConfigFile) << sweep_config_text(config);
  const Json json = Json::parse(sweep_config_text(config));
  EXPECT_EQ(json["version"], 2);
  EXPECT_EQ(json["settings"]["data-dir"], config.data_dir);
  EXPECT_EQ(json["settings"]["cuda-graphs"], "off");
  const SweepConfig read = read_sweep_config(dir.path());
  EXPECT_EQ(read.data_dir, config.data_dir);
  EXPECT_EQ(read.train_size, 700);
  EXPECT_FALSE(read.cuda_graphs);
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
}

TEST(SweepFile, RefusesAnEditThatDoesNotReadBack) {
  testing::TempDir dir;
  std::string text = sweep_config_text(SweepConfig{});
  const std::string epochs = "\"epochs\": \"15\"";
  text.replace(text.find(epochs), epochs.size(), "\"epochs\": \"015\"");
  std::ofstream(dir / kSweepConfigFile) << text;
  EXPECT_THROW_WITH(read_sweep_config(dir.path()), Error,
                    "setting 'epochs' = '015' does not read back the same");
  std::ofstream(dir / kSweepConfigFile) << "{ not json";
  EXPECT_THROW_WITH(read_sweep_config(dir.path()), Error, "not valid JSON at byte");
  // Valid JSON of the wrong types is a data error naming the file, never a crash.
  for (const auto& [version, message] :
       {std::pair{"\"2\"", "version \"2\""}, std::pair{"null", "version null"},
        std::pair{"2, \"settings\": []", "no settings object"},
        std::pair{"2, \"settings\": {}, \"data\": 7", "'data' is not text"}}) {
    std::ofstream(dir / kSweepConfigFile) << "{\"version\": " << version << "}";
    EXPECT_THROW_WITH(read_sweep_config(dir.path()), Error,
                      (dir / kSweepConfigFile).string() + ": " + message);
  }
}

TEST(SweepFile, ASweepContinuesOnlyOnTheDataItStartedWith) {
  testing::TempDir dir;
  SweepConfig config;
  config.data_fingerprint = "crc32c:0000abcd";
  std::ofstream(dir / kSweepConfigFile) << sweep_config_text(config);
  EXPECT_EQ(read_sweep_config(dir.path()).data_fingerprint, "crc32c:0000abcd");
  EXPECT_NO_THROW(check_resume_config(dir.path(), config));
  SweepConfig other = config;
  other.data_fingerprint = "crc32c:12345678";
  EXPECT_THROW_WITH(check_resume_config(dir.path(), other), Error,
                    "(crc32c:12345678) are not the data the sweep in " + dir.path().string() +
                        " trained on (crc32c:0000abcd)");
  // Checkpoints record it too: one copied from a sweep on other data is refused.
  const CheckpointStore store(dir / "checkpoints", config);
  const RunSpec spec = testing::a_run().l2(1e-3).seed(0);
  save_progress(store, spec, 1, RunStatus::kInterrupted);
  EXPECT_THROW_WITH(CheckpointStore(dir / "checkpoints", other).progress(spec), Error,
                    "trained with data crc32c:0000abcd, this sweep's data crc32c:12345678");
  EXPECT_NO_THROW(CheckpointStore(dir / "checkpoints", config).progress(spec));
}

TEST(ResumeConfig, RefusesAFolderWithoutASweep) {
  testing::TempDir dir;
  EXPECT_THROW_WITH(check_resume_config(dir.path(), SweepConfig{}), Error,
                    "holds no l2sweep sweep to resume");
}

class EpochCounter : public SweepObserver {
 public:
  void on_batch_end(const Cohort&, int64_t, int64_t, int64_t) override { ++batches; }
  void on_epoch_end(const RunSpec&, const EpochMetrics&) override { ++epochs; }
  int64_t batches = 0;
  int64_t epochs = 0;
};

TEST(TrainRun, ReplaysAFinishedRunFromItsCheckpointWithoutTraining) {
  testing::TempDir dir;
  SweepConfig config;
  config.epochs = 2;
  const CheckpointStore store(dir / "checkpoints", config);
  const RunSpec spec = testing::a_run().l2(1e-3).seed(0);
  EpochCounter first;
  RunnerOptions options;
  options.checkpoints = &store;
  const Plan plan = make_plan(config, torch::kCPU);
  const Cohort cohort{0, {spec}};
  const RunResult trained = train_cohort(cohort, plan, fixture_data(), first, options)[0];
  EXPECT_GT(first.batches, 0);
  EpochCounter second;
  const RunResult replayed = train_cohort(cohort, plan, fixture_data(), second, options)[0];
  EXPECT_EQ(second.batches, 0);
  EXPECT_EQ(second.epochs, 2);
  EXPECT_EQ(replayed.status, RunStatus::kCompleted);
  EXPECT_EQ(replayed.history.back().val_loss, trained.history.back().val_loss);
  EXPECT_EQ(replayed.test->accuracy, trained.test->accuracy);
}

}  // namespace
}  // namespace l2sweep
