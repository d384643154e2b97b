// One writer per folder, decided before written: the output folder's states, its locks, and
// the refusals that leave the disk untouched.
#include "l2sweep/experiment/output_folder.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "l2sweep/base/error.h"
#include "l2sweep/base/file_lock.h"
#include "l2sweep/base/files.h"
#include "l2sweep/config/sweep_file.h"
#include "test_support.h"

namespace l2sweep {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Plan plan_for(const fs::path& out, bool resume = false, std::optional<Shard> shard = {}) {
  SweepConfig config;
  config.out_dir = out.string();
  config.resume = resume;
  config.shard = shard;
  config.jobs = 1;
  return make_plan(config, torch::kCPU);
}

std::string text_of(const fs::path& path) { return read_text_file(path).value_or("<missing>"); }

TEST(OutputFolder, IsCreatedWithItsParentsAndSavesSweepCfg) {
  TempDir dir;
  const OutputFolder folder = OutputFolder::open_for_sweep(plan_for(dir / "a/b/c"));
  EXPECT_TRUE(fs::is_directory(dir / "a/b/c"));
  EXPECT_EQ(text_of(dir / "a/b/c" / kSweepConfigFile), sweep_config_text(plan_for("x").config));
  EXPECT_FALSE(folder.existed());
}

TEST(OutputFolder, AcceptsAnExistingEmptyFolder) {
  TempDir dir;
  EXPECT_NO_THROW(OutputFolder::open_for_sweep(plan_for(dir.path())));
}

TEST(OutputFolder, RefusesANonEmptyFolderSoResultsAreNeverOverwritten) {
  TempDir dir;
  std::ofstream(dir / "metrics.csv") << "precious\n";
  EXPECT_THROW_WITH(OutputFolder::open_for_sweep(plan_for(dir.path())), Error,
                    "not empty; expected a new or empty folder (results are never overwritten)");
  EXPECT_EQ(text_of(dir / "metrics.csv"), "precious\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1)
      << "the refusal wrote something";
}

TEST(OutputFolder, ReportsAFolderThatCannotBeCreated) {
  TempDir dir;
  std::ofstream(dir / "file") << "x";
  try {
    OutputFolder::open_for_sweep(plan_for(dir / "file/sub"));
    FAIL() << "expected an output error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOutput);
    EXPECT_NE(std::string(e.what()).find("cannot create folder"), std::string::npos) << e.what();
  }
}

TEST(OutputFolder, RefusesASecondWriterNamingTheFirst) {
  TempDir dir;
  OutputFolder first = OutputFolder::open_for_sweep(plan_for(dir.path()));
  first.claim("l2sweep first");
  const std::string sweep_cfg = text_of(dir / kSweepConfigFile);
  try {
    OutputFolder::open_for_sweep(plan_for(dir.path(), /*resume=*/true));
    FAIL() << "a second writer was let in";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOutput);
    const std::string message = e.what();
    EXPECT_NE(
        message.find("in use by pid " + std::to_string(::getpid()) + " on host " + host_name()),
        std::string::npos)
        << message;
    EXPECT_NE(message.find("l2sweep first"), std::string::npos) << message;
  }
  EXPECT_THROW_WITH(OutputFolder::open_for_merge(dir.path()), Error, "in use by pid");
  EXPECT_EQ(text_of(dir / kSweepConfigFile), sweep_cfg);
}

TEST(OutputFolder, LetsTheSameFolderBeResumedOnceTheWriterIsGone) {
  TempDir dir;
  { const OutputFolder first = OutputFolder::open_for_sweep(plan_for(dir.path())); }
  const OutputFolder resumed = OutputFolder::open_for_sweep(plan_for(dir.path(), /*resume=*/true));
  EXPECT_TRUE(resumed.existed());
}

TEST(OutputFolder, ResumeStartsTheSweepWhereThereIsNone) {
  for (const char* leftover : {"", ".l2sweep.lock", "sweep.cfg.tmp.host.123.0"}) {
    TempDir dir;
    if (*leftover != '\0') std::ofstream(dir / leftover) << "";
    const OutputFolder folder = OutputFolder::open_for_sweep(plan_for(dir.path(), /*resume=*/true));
    EXPECT_FALSE(folder.existed()) << leftover;
    EXPECT_TRUE(fs::exists(dir / kSweepConfigFile)) << leftover;
  }
  TempDir missing;
  EXPECT_NO_THROW(OutputFolder::open_for_sweep(plan_for(missing / "new", /*resume=*/true)));
}

TEST(OutputFolder, ShardsShareTheFolderButNotTheirRuns) {
  TempDir dir;
  OutputFolder first = OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{0, 2}));
  first.claim("shard 0/2");
  OutputFolder second = OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{1, 2}));
  second.claim("shard 1/2");
  OutputFolder again = OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{0, 2}));
  EXPECT_THROW_WITH(again.claim("shard 0/2 again"), Error,
                    "run l2-0.0001_seed-0 is being trained by pid");
  // A merge may look at a sharded sweep while it trains; a whole sweep may not join it.
  EXPECT_NO_THROW(OutputFolder::open_for_merge(dir.path()));
  EXPECT_THROW_WITH(OutputFolder::open_for_sweep(plan_for(dir.path(), true)), Error,
                    "in use by shards of this sweep or a merge; the last to start: pid");
}

TEST(OutputFolder, AShardRefusedForOneOfItsRunsLeavesNoLockBehind) {
  TempDir dir;
  { const OutputFolder sweep = OutputFolder::open_for_sweep(plan_for(dir.path())); }
  fs::create_directories(dir / "checkpoints");
  // Another shard trains the last run (l2 = 0.01) of this one.
  const auto other =
      FileLock::try_lock(dir / "checkpoints" / "l2-0.01_seed-0.lock", FileLock::Mode::kExclusive);
  ASSERT_TRUE(other.has_value());
  OutputFolder shard = OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{0, 1}));
  EXPECT_THROW_WITH(shard.claim("shard 0/1"), Error, "run l2-0.01_seed-0 is being trained by");
  EXPECT_FALSE(fs::exists(dir / "checkpoints" / "l2-0.0001_seed-0.lock"));
  EXPECT_FALSE(fs::exists(dir / "checkpoints" / "l2-0.001_seed-0.lock"));
}

TEST(OutputFolder, RefusesALockFileThatIsASymbolicLink) {
  TempDir dir;
  { const OutputFolder sweep = OutputFolder::open_for_sweep(plan_for(dir.path())); }
  std::ofstream(dir / "elsewhere") << "not a lock\n";
  fs::remove(dir / kFolderLockFile);
  fs::create_symlink(dir / "elsewhere", dir / kFolderLockFile);
  EXPECT_THROW_WITH(OutputFolder::open_for_sweep(plan_for(dir.path(), /*resume=*/true)), Error,
                    "is a symbolic link; expected l2sweep's own lock file");
  EXPECT_EQ(text_of(dir / "elsewhere"), "not a lock\n");
}

TEST(OutputFolder, AShardRefusesAFolderThatIsNotASweep) {
  TempDir dir;
  std::ofstream(dir / "metrics.csv") << "mine\n";
  EXPECT_THROW_WITH(OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{0, 2})), Error,
                    "not empty; expected a new or empty folder (results are never overwritten); it "
                    "holds no l2sweep sweep");
  EXPECT_EQ(text_of(dir / "metrics.csv"), "mine\n");
  EXPECT_FALSE(fs::exists(dir / ".l2sweep.lock"));
}

TEST(OutputFolder, AShardWithOtherOptionsIsRefusedBeforeItLocksItsRuns) {
  TempDir dir;
  const OutputFolder first = OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{0, 2}));
  Plan other = plan_for(dir.path(), false, Shard{1, 2});
  other.config.epochs = 3;
  EXPECT_THROW_WITH(OutputFolder::open_for_sweep(other), Error, "--epochs differs from the sweep");
  EXPECT_FALSE(fs::exists(dir / "checkpoints" / "l2-0.001_seed-0.lock"));
}

TEST(OutputFolder, SweepsWithoutOutNeverShareAFolder) {
  TempDir dir;
  const fs::path here = fs::current_path();
  fs::current_path(dir.path());
  {
    Plan plan = plan_for("");
    plan.config.out_dir.clear();
    const OutputFolder a = OutputFolder::open_for_sweep(plan);
    const OutputFolder b = OutputFolder::open_for_sweep(plan);
    EXPECT_NE(a.path(), b.path());
    EXPECT_EQ(a.path().parent_path(), "runs");
    EXPECT_TRUE(fs::exists(b.path() / kSweepConfigFile));
  }
  fs::current_path(here);
}

TEST(OutputFolder, RemovesTheTemporariesOfKilledWrites) {
  TempDir dir;
  { const OutputFolder first = OutputFolder::open_for_sweep(plan_for(dir.path())); }
  std::ofstream(dir / "summary.json.tmp.somehost.999999.3") << "half";
  fs::create_directories(dir / "checkpoints");
  std::ofstream(dir / "checkpoints" / "l2-0_seed-0.pt.tmp.7.1") << "half";
  std::ofstream(dir / "checkpoints" / "notes.txt") << "kept";
  std::ofstream(dir / "draft.txt.tmp.somehost.999999.3") << "a user's file named like ours";
  OutputFolder resumed = OutputFolder::open_for_sweep(plan_for(dir.path(), /*resume=*/true));
  resumed.claim("l2sweep --resume");
  EXPECT_FALSE(fs::exists(dir / "summary.json.tmp.somehost.999999.3"));
  EXPECT_FALSE(fs::exists(dir / "checkpoints" / "l2-0_seed-0.pt.tmp.7.1"));
  EXPECT_TRUE(fs::exists(dir / "checkpoints" / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir / "draft.txt.tmp.somehost.999999.3"));
}

TEST(OutputFolder, AShardRemovesOnlyTemporariesOfDeadProcessesNoLongerWritten) {
  TempDir dir;
  { const OutputFolder sweep = OutputFolder::open_for_sweep(plan_for(dir.path())); }
  // pid 999999 does not run here; another container with this host name may still be writing
  // the fresh one.
  const std::string dead = fmt::format("summary.json.tmp.{}.999999.1", host_name());
  const std::string fresh = fmt::format("report.md.tmp.{}.999999.2", host_name());
  std::ofstream(dir / dead) << "half";
  std::ofstream(dir / fresh) << "half";
  fs::last_write_time(dir / dead, fs::file_time_type::clock::now() - std::chrono::minutes(11));
  OutputFolder shard = OutputFolder::open_for_sweep(plan_for(dir.path(), false, Shard{0, 2}));
  shard.claim("shard 0/2");
  EXPECT_FALSE(fs::exists(dir / dead));
  EXPECT_TRUE(fs::exists(dir / fresh));
}

TEST(TemporaryFiles, AreToldApartFromResults) {
  EXPECT_TRUE(is_temporary_file("summary.json.tmp.host.123.0"));
  EXPECT_TRUE(is_temporary_file("summary.json.tmp.node-1.cluster.org.123.17"));
  EXPECT_TRUE(is_temporary_file("l2-0_seed-0.pt.tmp.123.4"));  // l2sweep 0.1's names
  EXPECT_FALSE(is_temporary_file("summary.json"));
  EXPECT_FALSE(is_temporary_file("notes.tmp.txt"));
  EXPECT_FALSE(is_temporary_file(".tmp.1.2"));
  EXPECT_EQ(temporary_file_target("summary.json.tmp.node-1.cluster.org.123.17"), "summary.json");
  EXPECT_EQ(temporary_file_target("l2-0_seed-0.pt.tmp.123.4"), "l2-0_seed-0.pt");
  EXPECT_EQ(temporary_file_target("summary.json"), std::nullopt);
}

TEST(TemporaryFiles, ANameLikeOursDoesNotMakeAFolderEmpty) {
  TempDir dir;
  std::ofstream(dir / "notes.txt.tmp.host.1.2") << "mine";
  EXPECT_EQ(inspect_output_folder(dir.path()), FolderState::kForeign);
  fs::remove(dir / "notes.txt.tmp.host.1.2");
  std::ofstream(dir / "metrics.csv.tmp.host.1.2") << "half";
  EXPECT_EQ(inspect_output_folder(dir.path()), FolderState::kEmpty);
}

}  // namespace
}  // namespace l2sweep
