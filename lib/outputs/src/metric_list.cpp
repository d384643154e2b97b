#include "l2sweep/outputs/metric_list.h"

#include <fmt/format.h>

#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/outputs/tensorboard.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

Json metric_listing() {
  Json epoch = Json::array();
  for (const EpochMetricField& field : kEpochMetricFields) {
    Json entry = Json::object();
    entry["name"] = field.name;
    entry["doc"] = field.doc;
    entry["metrics_csv"] = true;
    entry["summary_json"] = field.in_summary;
    entry["console"] = field.console_format != nullptr;
    if (field.tensorboard_writer != nullptr) {
      entry["tensorboard"] = {{"writer", field.tensorboard_writer}, {"tag", field.tensorboard_tag}};
    } else {
      entry["tensorboard"] = nullptr;
    }
    epoch.push_back(entry);
  }
  Json settings = Json::array();
  for (const SettingStatField& field : kSettingStatFields) {
    Json entry = Json::object();
    entry["name"] = field.name;
    entry["doc"] = field.doc;
    entry["summary_json"] = field.in_summary;
    settings.push_back(entry);
  }
  Json listing = Json::object();
  listing["epoch_metrics"] = epoch;
  listing["setting_statistics"] = settings;
  listing["histograms"] = Json::array({{{"writer", "train"},
                                        {"tag", kW1HistogramTag},
                                        {"doc", "W1's values at the end of each epoch"}}});
  return listing;
}

std::string metric_listing_markdown() {
  std::string text =
      "Per epoch (metrics.csv columns after `l2,dropout,weight_decay,seed,epoch`):\n\n";
  for (const EpochMetricField& field : kEpochMetricFields) {
    text += fmt::format("- `{}`: {}", field.name, field.doc);
    if (field.tensorboard_writer != nullptr) {
      text += fmt::format(" (TensorBoard: `{}/` `{}`)", field.tensorboard_writer,
                          field.tensorboard_tag);
    }
    text += ".\n";
  }
  text += "\nPer setting, over its completed seeds (summary.json `strengths`: mean, std, n):\n\n";
  for (const SettingStatField& field : kSettingStatFields) {
    text += fmt::format("- `{}`: {}{}.\n", field.name, field.doc,
                        field.in_summary ? "" : " (report.md only)");
  }
  return text;
}

}  // namespace l2sweep
