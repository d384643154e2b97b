#include "l2sweep/compare/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "l2sweep/base/json.h"
#include "l2sweep/base/text.h"
#include "l2sweep/outputs/setting_summary.h"

namespace l2sweep::compare {
namespace {

/// A number in a CSV or JSON: shortest text that reads back the same, empty for NaN.
std::string csv_number(double value) { return std::isnan(value) ? "" : fmt::format("{}", value); }

std::string p_text(double p) {
  if (std::isnan(p)) return "n/a";
  if (p < 0.001) return "p < 0.001";
  return fmt::format("p = {:.3f}", p);
}

std::string statistic_text(double value) {
  if (std::isinf(value)) return value > 0 ? "+inf" : "-inf";
  return fmt::format("{:+.2f}", value);
}

/// "0.8771 ± 0.0021 (3)" with the number of runs.
std::string group_cell(const SeedStats& stats, int precision = 4) {
  if (stats.n == 0) return "n/a";
  return fmt::format("{} ({})", mean_std_text(stats, precision), stats.n);
}

std::string seeds_text(const std::vector<const RunCurves*>& runs) {
  std::set<uint64_t> seeds;
  bool unseeded = false;
  for (const RunCurves* run : runs) {
    if (run->seed) {
      seeds.insert(*run->seed);
    } else {
      unseeded = true;
    }
  }
  std::string text;
  for (const uint64_t seed : seeds) text += (text.empty() ? "" : ", ") + std::to_string(seed);
  if (unseeded) text += text.empty() ? "-" : ", (none)";
  return text;
}

std::string test_text(const StrengthVerdict& verdict) {
  if (verdict.verdict == Verdict::kIdentical) return "every metric, every epoch, same bits";
  if (!verdict.tested) return verdict.method;
  if (verdict.method == "Welch's t-test") {
    return fmt::format("Welch t = {}, df {:.1f}, {}", statistic_text(verdict.test.statistic),
                       verdict.test.df, p_text(verdict.test.p));
  }
  return fmt::format("z = {}, {}", statistic_text(verdict.test.statistic), p_text(verdict.test.p));
}

/// ": at epoch 3, the last both trained (...)" and the like, after the verdict's name.
std::string conditions_text(const StrengthVerdict& verdict) {
  std::string text;
  for (const std::string& condition : verdict.conditions)
    text += (text.empty() ? "" : "; ") + condition;
  return text.empty() ? "" : ": " + text;
}

std::string seeds_needed_text(const StrengthVerdict& verdict) {
  if (verdict.verdict == Verdict::kNotComparable) return "";
  if (verdict.verdict == Verdict::kIdentical || verdict.verdict == Verdict::kDiffers ||
      std::isnan(verdict.difference)) {
    return "";
  }
  if (verdict.difference == 0) return "no difference to detect";
  if (!verdict.seeds_needed) {
    return verdict.verdict == Verdict::kCannotTell ? "unknown: run 3 seeds per side to measure "
                                                     "the spread"
                                                   : "";
  }
  if (*verdict.seeds_needed > 1000000) return "more than a million per side";
  return fmt::format("{} per side", *verdict.seeds_needed);
}

const char* statistic_title(const std::string& name) {
  static const std::pair<const char*, const char*> kTitles[] = {
      {"final_loss", "loss"},
      {"final_accuracy", "accuracy"},
      {"final_val_loss", "val_loss"},
      {"final_val_accuracy", "val_accuracy"},
      {"best_val_accuracy", "best val_accuracy"},
      {"best_val_accuracy_epoch", "at epoch"},
      {"lowest_val_loss", "lowest val_loss"},
      {"lowest_val_loss_epoch", "at epoch"},
  };
  for (const auto& [key, title] : kTitles) {
    if (name == key) return title;
  }
  return "?";
}

/// A setting's value as the setups table shows it.
std::string setting_cell(const SettingValue& value) {
  switch (value.origin) {
    case SettingOrigin::kAssumed:
      return value.value + " (assumed)";
    case SettingOrigin::kUnknown:
      return "not stated";
    case SettingOrigin::kGiven:
      return value.value + " (given)";
    case SettingOrigin::kRecorded:
      break;
  }
  return value.value;
}

/// The setups table as plain text for the console: one row per setting, one column per source,
/// a mark on the rows whose values differ ("!" where it blocks a verdict, "~" otherwise).
std::string setups_text(const Comparison& c) {
  std::vector<size_t> widths{12};
  for (const Source& source : c.sources) widths.push_back(std::max<size_t>(source.name.size(), 8));
  for (const SetupRow& row : c.setups) {
    for (size_t s = 0; s < row.values.size(); ++s) {
      widths[s + 1] =
          std::min<size_t>(std::max(widths[s + 1], setting_cell(row.values[s]).size()), 30);
    }
  }
  const auto cell = [](std::string text, size_t width) {
    if (text.size() > width) text = text.substr(0, width - 3) + "...";
    return text + std::string(width - text.size(), ' ');
  };
  std::string text =
      "setups (! differs and blocks a verdict, ~ differs):\n    " + cell("setting", widths[0]);
  for (size_t s = 0; s < c.sources.size(); ++s)
    text += "  " + cell(c.sources[s].name, widths[s + 1]);
  text += "\n";
  for (const SetupRow& row : c.setups) {
    text += fmt::format("  {} ", row.differs ? (row.blocks ? "!" : "~") : " ") +
            cell(row.key, widths[0]);
    for (size_t s = 0; s < row.values.size(); ++s) {
      text += "  " + cell(setting_cell(row.values[s]), widths[s + 1]);
    }
    text += "\n";
  }
  for (size_t s = 0; s < c.sources.size(); ++s) {
    if (c.assumptions[s].empty()) continue;
    text += "  " +
            wrap_words(fmt::format("assumed for '{}' (not stated; the seed experiment's setup): "
                                   "{}; give them with --setup KEY=VALUE,... before its runs",
                                   c.sources[s].name, c.assumptions[s]),
                       80, 2, "    ") +
            "\n";
  }
  return text;
}

void setups_section(const Comparison& c, std::string& md) {
  md += "## Setups\n\n| setting |";
  for (size_t s = 0; s < c.sources.size(); ++s) {
    md += fmt::format(" {}{} |", c.sources[s].name, s == 0 ? " (reference)" : "");
  }
  md += " |\n|---|";
  for (size_t s = 0; s < c.sources.size(); ++s) md += "---|";
  md += "---|\n";
  for (const SetupRow& row : c.setups) {
    md += fmt::format("| {} |", row.differs ? "**" + row.key + "**" : row.key);
    for (const SettingValue& value : row.values) md += " " + setting_cell(value) + " |";
    md += row.differs ? (row.blocks ? " **differs: blocks the verdicts** |"
                                    : " differs (informational, or paired per run) |")
                      : " |";
    md += "\n";
  }
  md += "\n";
  for (size_t s = 0; s < c.sources.size(); ++s) {
    if (c.assumptions[s].empty()) continue;
    md += fmt::format(
        "- Assumed for '{}' (not stated; the seed experiment's setup): {}. Give them with "
        "`--setup KEY=VALUE,...` before its runs (or in each run's `--label`).\n",
        c.sources[s].name, c.assumptions[s]);
  }
  md +=
      "- Data, optimiser and data-order settings that differ (data, train_size, val_size, "
      "batch_size, lr, adam, shuffle) make a source's verdicts **not comparable** unless "
      "`--ignore KEY` forces the "
      "tests; epochs that differ are compared at the last epoch both trained; engine, device, "
      "jobs and shards never block a verdict.\n\n";
}

void sources_section(const Comparison& c, std::string& md) {
  md +=
      "## Sources\n\n| source | read from | runs | l2 | seeds | epochs |\n"
      "|---|---|---|---|---|---|\n";
  for (size_t s = 0; s < c.sources.size(); ++s) {
    std::string strengths;
    std::vector<const RunCurves*> runs;
    int64_t low = -1, high = -1;
    for (const Group& group : c.groups) {
      if (group.source != s) continue;
      strengths += (strengths.empty() ? "" : ", ") + fmt::format("{}", group.l2);
      runs.insert(runs.end(), group.runs.begin(), group.runs.end());
      low = low < 0 ? group.min_epochs : std::min(low, group.min_epochs);
      high = std::max(high, group.max_epochs);
    }
    md += fmt::format("| **{}**{} | {} | {} | {} | {} | {} |\n", c.sources[s].name,
                      s == 0 ? " (reference)" : "", c.sources[s].description,
                      c.sources[s].runs.size(), strengths, seeds_text(runs),
                      low == high ? std::to_string(low) : fmt::format("{}-{}", low, high));
  }
  md += "\n";
}

void verdicts_section(const Comparison& c, std::string& md) {
  md += fmt::format("## Verdicts: final {}\n\n", c.metric);
  md +=
      "Mean ± standard deviation across seeds, with the number of runs in brackets; the "
      "difference is the source's mean minus the reference's.\n\n";
  md +=
      "| setting | source | source's | reference's | difference | test | verdict | seeds to "
      "detect it |\n|---|---|---|---|---|---|---|---|\n";
  for (const StrengthVerdict& v : c.verdicts) {
    const Group& b = c.groups[v.other];
    md += fmt::format("| {} | {} | {} | {} | {} | {} | **{}**{} | {} |\n",
                      setting_name(v.l2, v.dropout, v.weight_decay), c.sources[b.source].name,
                      group_cell(v.other_stats), group_cell(v.reference_stats),
                      fixed(v.difference, 4, true), test_text(v), verdict_name(v.verdict),
                      conditions_text(v), seeds_needed_text(v));
  }
  md += "\n";
  for (const StrengthVerdict& v : c.verdicts) {
    if (v.verdict != Verdict::kCannotTell || !v.seeds_needed) continue;
    md += fmt::format(
        "- l2 {}: one run on each side cannot separate a difference of {} from "
        "seed-to-seed variation; with a spread of {} ({}), about {} seeds per side "
        "would.\n",
        v.l2, fixed(std::fabs(v.difference), 4), fixed(v.planning_std, 4), v.planning_basis,
        *v.seeds_needed);
  }
  md += "\n";
}

void rules_section(const Comparison& c, std::string& md) {
  md += fmt::format(
      "## How the verdicts are decided\n\n"
      "- **identical**: both sources have the same seeds at this strength and every metric of "
      "every epoch has the same bits. The same sweep run with another `--jobs`, in shards or "
      "resumed gives this.\n"
      "- Several seeds on both sides: Welch's two-sample t-test on the final {0}. **differs** "
      "when p < {1}, otherwise **consistent**: the difference is within what the seed spread "
      "explains.\n"
      "- Several seeds on one side, one run on the other: the run's z-score against those seeds, "
      "z = (x - mean) / std, judged by the prediction interval t = (x - mean) / (std sqrt(1 + "
      "1/n)) with n - 1 degrees of freedom. **differs** when p < {1}.\n"
      "- One run on each side, or seeds that all tie: **cannot tell**: there is no spread to "
      "judge the difference against (a tie with a difference within float32 rounding is "
      "**consistent**). A side whose runs all diverged **differs** from one whose runs did "
      "not.\n"
      "- Seeds to detect it: per side, for a two-sample test at {1} to detect the difference "
      "seen with {2:.0f}% power, n = 2 (1.96 + 0.84)^2 s^2 / d^2 + 0.96 (Guenther's "
      "correction), where s is the seed spread of the two sides (with one run each: of the "
      "other strengths, else the epoch-to-epoch noise of the second half of training). "
      "**consistent** is not proof of equality: with few seeds only large differences show.\n"
      "- Each strength is its own test at {1}: with three strengths, about one comparison in "
      "seven shows a **differs** somewhere by chance when nothing differs (1 - 0.95^3).\n"
      "- A seed names the same draw only within one program: Keras' seed 0 and l2sweep's seed 0 "
      "start from different weights, so runs from different programs are compared as groups, "
      "never pairwise.\n\n",
      c.metric, kSignificance, kPower * 100);
}

/// The reference source's group of `group`'s setting, or nullptr.
const Group* reference_of(const Comparison& c, const Group& group) {
  for (const Group& other : c.groups) {
    if (other.source == 0 && same_setting(other, group)) return &other;
  }
  return nullptr;
}

void metrics_section(const Comparison& c, std::string& md) {
  const std::vector<std::string> names = group_statistic_names();
  md += "## Final and best-epoch metrics\n\n";
  std::vector<const Group*> settings;  // one group per setting, in setting order
  for (const Group& group : c.groups) {
    if (std::none_of(settings.begin(), settings.end(),
                     [&](const Group* seen) { return same_setting(*seen, group); })) {
      settings.push_back(&group);
    }
  }
  std::sort(settings.begin(), settings.end(), [](const Group* a, const Group* b) {
    return std::tuple{a->l2, a->dropout, a->weight_decay} <
           std::tuple{b->l2, b->dropout, b->weight_decay};
  });
  for (const Group* setting : settings) {
    md += fmt::format("### {}\n\n| source | runs | epochs |",
                      setting_name(setting->l2, setting->dropout, setting->weight_decay));
    for (const std::string& name : names) md += fmt::format(" {} |", statistic_title(name));
    md += "\n|---|---|---|";
    for (size_t k = 0; k < names.size(); ++k) md += "---|";
    md += "\n";
    const Group* reference = reference_of(c, *setting);
    for (const Group& group : c.groups) {
      if (!same_setting(group, *setting)) continue;
      md += fmt::format("| {} | {} | {} |", c.sources[group.source].name, group.runs.size(),
                        epochs_text(group));
      for (const std::string& name : names) {
        const bool epoch = name.find("_epoch") != std::string::npos;
        md += " " + mean_std_text(group.statistic(name), epoch ? 1 : 4) + " |";
      }
      md += "\n";
      if (reference == nullptr || group.source == 0) continue;
      md += fmt::format("| difference from {} | | |", c.sources[0].name);
      for (const std::string& name : names) {
        const bool epoch = name.find("_epoch") != std::string::npos;
        md += " " +
              fixed(group.statistic(name).mean - reference->statistic(name).mean, epoch ? 1 : 4,
                    true) +
              " |";
      }
      md += "\n";
    }
    md += "\n";
  }
}

}  // namespace

std::string compare_markdown(const Comparison& c, const std::string& command) {
  std::string title;
  for (size_t s = 1; s < c.sources.size(); ++s) {
    title += (s == 1 ? "" : ", ") + c.sources[s].name;
  }
  std::string md = fmt::format("# Did it reproduce? {} against {}\n\n", title, c.sources[0].name);
  md += fmt::format("`{}`\n\n", command);
  int64_t counts[5] = {0, 0, 0, 0, 0};
  for (const StrengthVerdict& v : c.verdicts) ++counts[static_cast<int>(v.verdict)];
  md += fmt::format(
      "Final {} at {} setting pair{}: {} identical, {} consistent, {} differ, {} "
      "cannot tell, {} not comparable.\n\n",
      c.metric, c.verdicts.size(), c.verdicts.size() == 1 ? "" : "s", counts[0], counts[1],
      counts[2], counts[3], counts[4]);
  setups_section(c, md);
  sources_section(c, md);
  verdicts_section(c, md);
  rules_section(c, md);
  metrics_section(c, md);
  if (!c.notes.empty()) {
    md += "## Notes\n\n";
    for (const std::string& note : c.notes) md += "- " + note + "\n";
    md += "\n";
  }
  md +=
      "## Files\n\n- `compare.csv`: every statistic above, per strength and source, with its "
      "difference from the reference.\n- `curves.csv`: every run's metrics per epoch.\n"
      "- `compare.json`: the verdicts and statistics, for scripts.\n";
  return md;
}

std::string compare_csv(const Comparison& c) {
  std::string text = "l2,source,runs,statistic,mean,std,difference,dropout,weight_decay\n";
  for (const Group& group : c.groups) {
    const Group* reference = reference_of(c, group);
    for (const GroupStatistic& s : group.statistics) {
      const double difference = reference == nullptr || group.source == 0
                                    ? std::nan("")
                                    : s.stats.mean - reference->statistic(s.name).mean;
      text +=
          fmt::format("{},{},{},{},{},{},{},{},{}\n", group.l2, c.sources[group.source].name,
                      group.runs.size(), s.name, csv_number(s.stats.mean), csv_number(s.stats.std),
                      csv_number(difference), group.dropout, group.weight_decay);
    }
  }
  return text;
}

std::string curves_csv(const Comparison& c) {
  std::string text = "source,l2,seed,epoch";
  for (const char* metric : kCurveMetrics) text += std::string(",") + metric;
  text += ",dropout,weight_decay\n";
  for (const Group& group : c.groups) {
    for (const RunCurves* run : group.runs) {
      for (int64_t epoch = 0; epoch < run->epochs(); ++epoch) {
        text += fmt::format("{},{},{},{}", c.sources[group.source].name, group.l2,
                            run->seed ? std::to_string(*run->seed) : "", epoch + 1);
        for (const char* metric : kCurveMetrics) {
          const std::vector<double>* series = run->find(metric);
          text += "," + (series != nullptr && epoch < static_cast<int64_t>(series->size())
                             ? csv_number((*series)[static_cast<size_t>(epoch)])
                             : std::string());
        }
        text += fmt::format(",{},{}\n", group.dropout, group.weight_decay);
      }
    }
  }
  return text;
}

namespace {

/// compare.json's sources: name, description, number of runs.
Json sources_json(const Comparison& c) {
  Json sources = Json::array();
  for (const Source& source : c.sources) {
    sources.push_back(
        {{"name", source.name}, {"description", source.description}, {"runs", source.runs.size()}});
  }
  return sources;
}

/// One verdict of compare.json: the setting, the verdict and its test, what qualifies it, and
/// the seeds that would resolve it.
Json verdict_json(const Comparison& c, const StrengthVerdict& v) {
  Json item = {{"l2", v.l2},
               {"dropout", v.dropout},
               {"weight_decay", v.weight_decay},
               {"source", c.sources[c.groups[v.other].source].name},
               {"verdict", verdict_name(v.verdict)},
               {"method", v.method},
               {"difference", json_number(v.difference)}};
  if (v.tested) {
    item["statistic"] = json_number(v.test.statistic);
    item["df"] = json_number(v.test.df);
    item["p"] = json_number(v.test.p);
  }
  item["at_epoch"] = v.at_epoch > 0 ? Json(v.at_epoch) : Json(nullptr);
  item["conditions"] = v.conditions;
  item["seeds_needed"] = v.seeds_needed ? Json(*v.seeds_needed) : Json(nullptr);
  if (v.seeds_needed) {
    item["planning_std"] = v.planning_std;
    item["planning_basis"] = v.planning_basis;
  }
  return item;
}

/// One group of compare.json: its source, setting, seeds, epochs and statistics.
Json group_json(const Comparison& c, const Group& group) {
  Json statistics = Json::object();
  for (const GroupStatistic& s : group.statistics) {
    statistics[s.name] = {
        {"n", s.stats.n}, {"mean", json_number(s.stats.mean)}, {"std", json_number(s.stats.std)}};
  }
  Json seeds = Json::array();
  for (const RunCurves* run : group.runs) seeds.push_back(run->seed ? Json(*run->seed) : Json());
  return {{"source", c.sources[group.source].name},
          {"l2", group.l2},
          {"dropout", group.dropout},
          {"weight_decay", group.weight_decay},
          {"seeds", seeds},
          {"epochs", group.max_epochs},
          {"statistics", statistics}};
}

/// compare.json's setups: per setting, whether it differs or blocks, and each source's value
/// with where it came from.
Json setups_json(const Comparison& c) {
  Json setups = Json::array();
  for (const SetupRow& row : c.setups) {
    Json values = Json::object();
    for (size_t s = 0; s < row.values.size(); ++s) {
      const SettingValue& value = row.values[s];
      static const char* kOrigins[] = {"recorded", "given", "assumed", "unknown"};
      values[c.sources[s].name] = {{"value", value.value.empty() ? Json() : Json(value.value)},
                                   {"origin", kOrigins[static_cast<int>(value.origin)]}};
    }
    setups.push_back({{"setting", row.key},
                      {"differs", row.differs},
                      {"blocks", row.blocks},
                      {"values", values}});
  }
  return setups;
}

}  // namespace

std::string compare_json(const Comparison& c, const std::string& command) {
  Json json;
  json["command"] = command;
  json["metric"] = c.metric;
  json["alpha"] = kSignificance;
  json["reference"] = c.sources[0].name;
  json["sources"] = sources_json(c);
  json["verdicts"] = Json::array();
  for (const StrengthVerdict& v : c.verdicts) json["verdicts"].push_back(verdict_json(c, v));
  json["groups"] = Json::array();
  for (const Group& group : c.groups) json["groups"].push_back(group_json(c, group));
  json["setups"] = setups_json(c);
  json["ignored"] = c.ignored;
  json["notes"] = c.notes;
  return json_text(json);
}

std::string compare_console_text(const Comparison& comparison) {
  std::string text = setups_text(comparison) + "\n";
  text += fmt::format("compare: final {}, reference {}\n", comparison.metric,
                      comparison.sources[0].name);
  for (const StrengthVerdict& v : comparison.verdicts) {
    // One line per verdict, however long: scripts and people grep for them.
    text += fmt::format(
        "  {:<10} {:<12} {:<14} {:>8}  {}{}\n", setting_name(v.l2, v.dropout, v.weight_decay),
        comparison.sources[comparison.groups[v.other].source].name, verdict_name(v.verdict),
        fixed(v.difference, 4, true), test_text(v), conditions_text(v));
  }
  return text;
}

}  // namespace l2sweep::compare
