#include "l2sweep/compare/setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/config/options.h"

namespace l2sweep::compare {
namespace fs = std::filesystem;
namespace {

/// A JSON value as the command line would write it: strings as they are, numbers in their
/// shortest form, lists joined by commas.
std::string text_of(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_number()) return fmt::format("{}", value.get<double>());
  if (value.is_boolean()) return value.get<bool>() ? "on" : "off";
  if (value.is_array()) {
    std::string text;
    for (const Json& item : value) text += (text.empty() ? "" : ",") + text_of(item);
    return text;
  }
  return "";
}

/// `json[a][b]`, or null.
const Json& at(const Json& json, const char* a, const char* b = nullptr) {
  static const Json kNull;
  if (!json.is_object() || !json.contains(a)) return kNull;
  const Json& first = json[a];
  if (b == nullptr) return first;
  if (!first.is_object() || !first.contains(b)) return kNull;
  return first[b];
}

}  // namespace

const SetupKey* find_setup_key(const std::string& name) {
  for (const SetupKey& key : kSetupKeys) {
    if (name == key.name) return &key;
  }
  return nullptr;
}

std::string given_setting(const std::string& key, const std::string& value,
                          const std::string& context) {
  const SetupKey* known = find_setup_key(key);
  if (known == nullptr || key == "epochs") {
    std::string keys;
    for (const SetupKey& k : kSetupKeys) {
      if (std::string(k.name) != "epochs") keys += (keys.empty() ? "" : ", ") + std::string(k.name);
    }
    throw usage_error("{}: unknown setting '{}'; expected l2, seed, {}", context, key, keys);
  }
  if (value.empty()) throw usage_error("{}: {} has no value", context, key);
  if (key == "adam" && value != "torch" && value != "keras") {
    throw usage_error("{}: adam '{}'; expected torch or keras", context, value);
  }
  if (key == "shuffle" && value != "each-epoch" && value != "once") {
    throw usage_error("{}: shuffle '{}'; expected each-epoch or once", context, value);
  }
  if (key == "train_size" || key == "val_size" || key == "batch_size" || key == "jobs" ||
      key == "shards") {
    const auto number = parse_int64(value);
    if (!number || *number <= 0) {
      throw usage_error("{}: {} '{}'; expected a positive integer", context, key, value);
    }
  }
  if (key == "lr" || key == "dropout" || key == "weight_decay") {
    const auto number = parse_double(value);
    if (!number || !std::isfinite(*number) || *number < 0) {
      throw usage_error("{}: {} '{}'; expected a non-negative number", context, key, value);
    }
    if (key == "lr" && *number == 0) {
      throw usage_error("{}: lr '{}'; expected a learning rate above 0", context, value);
    }
    if (key == "dropout" && *number >= 1) {
      throw usage_error("{}: dropout '{}'; expected a rate in [0, 1)", context, value);
    }
  }
  return value;
}

bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  const auto x = parse_double(a);
  const auto y = parse_double(b);
  return x && y &&
         (*x == *y || std::fabs(*x - *y) <= 1e-12 * std::max(std::fabs(*x), std::fabs(*y)));
}

Setup read_sweep_setup(const fs::path& folder) {
  Setup setup;
  const auto recorded = [&](const char* key, const std::string& value) {
    if (!value.empty()) setup[key] = SettingValue{value, SettingOrigin::kRecorded};
  };
  // sweep.cfg first (every sweep has one), then summary.json's fuller record over it.
  if (const auto text = read_text_file(folder / "sweep.cfg")) {
    const Json cfg = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    const Json& settings = at(cfg, "settings");
    for (const auto& [key, option] :
         {std::pair{"batch_size", "batch-size"}, std::pair{"lr", "lr"}, std::pair{"adam", "adam"},
          std::pair{"epochs", "epochs"}, std::pair{"dropout", "dropout"},
          std::pair{"weight_decay", "weight-decay"}, std::pair{"val_size", "val-size"},
          std::pair{"shuffle", "shuffle"}}) {
      recorded(key, text_of(at(settings, option)));
    }
    const std::string train = text_of(at(settings, "train-size"));
    if (train != "all") recorded("train_size", train);
    recorded("data", text_of(at(cfg, "data")));
  }
  if (const auto text = read_text_file(folder / "summary.json")) {
    const Json summary = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    recorded("train_size", text_of(at(summary, "dataset", "train_examples")));
    recorded("val_size", text_of(at(summary, "dataset", "val_examples")));
    recorded("data", text_of(at(summary, "dataset", "fingerprint")));
    for (const auto& [key, field] :
         {std::pair{"batch_size", "batch_size"}, std::pair{"lr", "lr"}, std::pair{"adam", "adam"},
          std::pair{"epochs", "epochs"}, std::pair{"dropout", "dropout"},
          std::pair{"weight_decay", "weight_decay"}, std::pair{"shuffle", "shuffle"}}) {
      recorded(key, text_of(at(summary, "config", field)));
    }
    const std::string engine = text_of(at(at(summary, "experiment"), "optimizer", "name"));
    recorded("engine", engine.empty() ? text_of(at(summary, "config", "engine")) : engine);
    recorded("device", text_of(at(summary, "device")));
    const std::string jobs = text_of(at(summary, "config", "jobs"));
    recorded("jobs", jobs == "0" ? "auto" : jobs);
    const std::string command = text_of(at(summary, "command_line"));
    recorded("shards",
             command.find(" merge ") != std::string::npos || command.rfind("merge ", 0) == 0
                 ? "merged"
                 : "1");
  }
  // Sweeps written before an option existed ran with its old value (the option table's
  // unwritten_value: torch's Adam, no Dropout, no decay, reshuffled every epoch).
  for (const auto& [key, option] :
       {std::pair{"adam", "adam"}, std::pair{"dropout", "dropout"},
        std::pair{"weight_decay", "weight-decay"}, std::pair{"shuffle", "shuffle"}}) {
    const SweepOption* known = find_sweep_option(option);
    if (setup.count(key) == 0 && !setup.empty() && known != nullptr &&
        known->unwritten_value != nullptr) {
      recorded(key, known->unwritten_value);
    }
  }
  return setup;
}

SettingValue fold_given(const SetupKey& key, const std::vector<std::string>& per_run) {
  // Each distinct value, and whether any run that has it had it assumed.
  std::vector<std::pair<std::string, bool>> values;
  bool any_given = false;
  for (const std::string& given : per_run) {
    std::string value = given;
    const bool assumed = value.empty();
    if (assumed) {
      if (key.keras_default == nullptr) continue;
      value = key.keras_default;
    } else {
      any_given = true;
    }
    const auto seen = std::find_if(values.begin(), values.end(), [&](const auto& known) {
      return same_value(known.first, value);
    });
    if (seen == values.end()) {
      values.emplace_back(value, assumed);
    } else {
      seen->second = seen->second || assumed;
    }
  }
  if (values.empty()) return {};
  if (values.size() == 1) {
    return {values.front().first, any_given ? SettingOrigin::kGiven : SettingOrigin::kAssumed};
  }
  std::string text;
  for (const auto& [value, assumed] : values) {
    text += (text.empty() ? "" : ", ") + value + (assumed ? " assumed" : "");
  }
  return {"mixed (" + text + ")", SettingOrigin::kGiven};
}

}  // namespace l2sweep::compare
