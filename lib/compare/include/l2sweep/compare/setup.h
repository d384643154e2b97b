#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace l2sweep::compare {

/// Where a source's value of a setting comes from.
enum class SettingOrigin {
  kRecorded,  ///< an l2sweep folder's sweep.cfg and summary.json
  kGiven,     ///< --setup or --label, for Keras runs
  kAssumed,   ///< not given for Keras runs: the seed experiment's value
  kUnknown,   ///< neither recorded nor given nor assumable
};

struct SettingValue {
  std::string value;  ///< as the command line would give it ("50000", "0.001", "keras")
  SettingOrigin origin = SettingOrigin::kUnknown;
};

/// One setting `l2sweep compare` shows for every source.
struct SetupKey {
  const char* name;  ///< the key in --setup, --label, --ignore and the setups table
  const char* help;
  /// Sources whose values differ are not comparable (their verdicts read "not comparable"
  /// unless --ignore names the key). Epochs are compared over the common ones instead;
  /// Dropout and weight decay are part of each run's setting, which runs pair by; engine,
  /// device, jobs and shards never block (comparing a GPU sweep with a CPU one is the point).
  bool blocks;
  /// What the seed experiment used, assumed for Keras runs that do not say; nullptr when
  /// nothing can be assumed.
  const char* keras_default;
};

inline constexpr SetupKey kSetupKeys[] = {
    {"data", "the data's fingerprint (l2sweep's crc32c of the IDX files)", true, nullptr},
    {"train_size", "training examples", true, "50000"},
    {"val_size", "validation examples", true, "10000"},
    {"epochs", "epochs trained (Keras: from the logs)", false, nullptr},
    {"batch_size", "batch size", true, "32"},
    {"lr", "Adam's learning rate", true, "0.001"},
    {"adam", "Adam's update: torch or keras (epsilon placement)", true, "keras"},
    {"shuffle",
     "data order: each-epoch (reshuffled each epoch: Keras' fit as the seed script runs it) or "
     "once (one order replayed every epoch: Keras' fit after keras.utils.set_random_seed)",
     true, "each-epoch"},
    {"dropout", "Dropout rates (each run pairs by its own)", false, "0"},
    {"weight_decay", "decoupled weight decays (each run pairs by its own)", false, "0"},
    {"engine", "what trained it (informational)", false, "keras"},
    {"device", "where it trained (informational)", false, nullptr},
    {"jobs", "runs trained side by side (informational)", false, nullptr},
    {"shards", "how many processes shared the sweep (informational)", false, nullptr},
};

/// A source's value of every kSetupKeys setting that it has, by key.
using Setup = std::map<std::string, SettingValue>;

/// The SetupKey called `name`, or nullptr.
const SetupKey* find_setup_key(const std::string& name);

/// `value` of `key` as given on the command line, checked and normalised ("1e-3" stays
/// "1e-3": values compare as numbers); a usage Error naming `context`, the key and what was
/// expected. The keys users may give are those of kSetupKeys but epochs (the logs say it).
std::string given_setting(const std::string& key, const std::string& value,
                          const std::string& context);

/// Whether two values of a setting are the same (numbers compare as numbers).
bool same_value(const std::string& a, const std::string& b);

/// An l2sweep output folder's setup, from summary.json (sizes, data, optimiser, device,
/// engine, jobs) and sweep.cfg where summary.json is missing.
Setup read_sweep_setup(const std::filesystem::path& folder);

/// A setting a Keras source's runs give (per run: "" for a run that does not say), folded into
/// one value: the common one, "mixed (a, b)" when they disagree, or the seed experiment's
/// assumed value when none says.
SettingValue fold_given(const SetupKey& key, const std::vector<std::string>& per_run);

}  // namespace l2sweep::compare
