#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/outputs/keras_csv.h"
#include "l2sweep/outputs/metrics_csv.h"
#include "l2sweep/outputs/summary.h"
#include "test_support.h"

namespace l2sweep {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(JsonText, IsIndentedWithNullForNonFiniteNumbersAndAFinalNewline) {
  Json json = Json::object();
  json["name"] = "a \"quoted\"\\path\n";
  json["values"] = Json::array({0.1, int64_t{-3}, 1e-7});
  json["nan"] = std::numeric_limits<double>::quiet_NaN();
  json["empty"] = Json::object();
  json["flag"] = true;
  json["not utf-8"] = std::string("\xff");
  EXPECT_EQ(json_text(json),
            "{\n"
            "  \"name\": \"a \\\"quoted\\\"\\\\path\\n\",\n"
            "  \"values\": [\n"
            "    0.1,\n"
            "    -3,\n"
            "    1e-07\n"
            "  ],\n"
            "  \"nan\": null,\n"
            "  \"empty\": {},\n"
            "  \"flag\": true,\n"
            "  \"not utf-8\": \"\xef\xbf\xbd\"\n"
            "}\n");
  EXPECT_EQ(Json::parse(json_text(json))["name"], "a \"quoted\"\\path\n");
  EXPECT_FALSE(is_utf8("\xff"));
  EXPECT_TRUE(is_utf8("caf\xc3\xa9 \n"));
}

TEST(AtomicWrite, ReplacesTheFileAndLeavesNoTemporary) {
  TempDir dir;
  write_file_atomically(dir / "summary.json", "old");
  write_file_atomically(dir / "summary.json", "new");
  EXPECT_EQ(read_text(dir / "summary.json"), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1)
      << "a temporary file was left behind";
}

TEST(AtomicWrite, ReportsAnUnwritableFolder) {
  TempDir dir;
  EXPECT_THROW_WITH(write_file_atomically(dir / "missing/summary.json", "x"), Error,
                    "summary.json.tmp.");
}

TEST(MetricsCsv, WritesTheHeaderThenOneFlushedRowPerEpoch) {
  TempDir dir;
  MetricsCsvWriter writer(dir / "metrics.csv");
  EXPECT_EQ(read_text(dir / "metrics.csv"), metrics_csv_header());
  EpochMetrics m;
  m.epoch = 3;
  m.loss = 0.5;
  m.accuracy = 0.875;
  m.val_loss = 0.625;
  m.val_accuracy = 0.75;
  m.data_loss = 0.25;
  m.val_data_loss = 0.375;
  m.penalty = 0.25;
  m.w1_norm = 5;
  m.w1_small = 0.125;
  m.w1_zero = 0;
  m.dead_units = 0.0625;
  m.epoch_seconds = 1.5;
  RunSpec run = testing::a_run().l2(0.01).seed(7);
  run.dropout = 0.5;
  run.weight_decay = 0.25;
  writer.on_epoch_end(run, m);
  // Read while the writer is still open: the row is already on disk.
  EXPECT_EQ(read_text(dir / "metrics.csv"),
            metrics_csv_header() +
                "0.01,0.5,0.25,7,3,0.5,0.875,0.625,0.75,0.25,0.375,0.25,5,0.125,0,0.0625,1.5\n");
}

TEST(MetricsCsv, HeaderUsesKerasNamesAndTheRequiredColumns) {
  EXPECT_EQ(metrics_csv_header(),
            "l2,dropout,weight_decay,seed,epoch,loss,accuracy,val_loss,val_accuracy,data_loss,"
            "val_data_loss,penalty,w1_norm,w1_small,w1_zero,dead_units,epoch_seconds\n");
}

TEST(MetricsCsv, ReportsAFileThatCannotBeCreated) {
  TempDir dir;
  EXPECT_THROW_WITH(MetricsCsvWriter(dir / "no/such/metrics.csv"), Error,
                    "metrics.csv: cannot create");
}

TEST(SummaryJson, RecordsConfigurationRunsAndStatus) {
  SweepInfo context;
  context.config.l2_strengths = {0.01};
  context.device = "cpu";
  context.config.out_dir = "runs/x";
  context.data.image_shape = {28, 28};
  context.data.num_classes = 10;
  RunResult diverged;
  diverged.spec = testing::a_run().l2(0.01);
  diverged.status = RunStatus::kDiverged;
  EpochMetrics m;
  m.epoch = 1;
  m.loss = std::numeric_limits<double>::infinity();
  diverged.history.push_back(m);
  const std::string json = summary_json(context, {diverged}, /*finished=*/true);
  for (const char* expected :
       {"\"finished\": true", "\"device\": \"cpu\"", "\"out\": \"runs/x\"",
        "\"status\": \"diverged\"", "\"diverged_at_epoch\": 1", "\"loss\": null",
        "\"test_accuracy\": null", "\"epsilon\": 1e-07", "Linear(784, 128)",
        "\"epochs_completed\": 1", "\"libtorch_version\": "}) {
    EXPECT_NE(json.find(expected), std::string::npos) << expected << " not in\n" << json;
  }
}

}  // namespace
}  // namespace l2sweep
