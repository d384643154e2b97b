#include "arguments.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "help.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/config/options.h"

namespace l2sweep::cli {
namespace {

/// One option as the command line knows it.
struct Known {
  std::string name;        ///< without dashes: "epochs"
  const char* value_name;  ///< nullptr for a switch
};

std::vector<Known> known_options() {
  std::vector<Known> known;
  for (const SweepOption& option : sweep_options())
    known.push_back({option.name, option.value_name});
  for (const CommandOption& option : command_options()) {
    std::string name = option.name;
    if (name.rfind("h,", 0) == 0) name = name.substr(2);
    known.push_back({name, option.value_name});
  }
  return known;
}

/// Whether the option's value is a comma-separated list (its value name says so).
bool takes_list(const std::string& name) {
  const SweepOption* option = find_sweep_option(name);
  return option != nullptr && option->value_name != nullptr &&
         (std::string(option->value_name) == "LIST" || std::string(option->value_name) == "RATES");
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// The known option `name` most likely meant: the same in lower case, the closest within two
/// edits (fewer than half its letters), or one that begins it or that it begins.
std::optional<std::string> nearest(std::string name, const std::vector<Known>& known) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::optional<std::string> best;
  size_t best_distance = 3;
  for (const Known& option : known) {
    const size_t distance = edit_distance(name, option.name);
    if (distance < best_distance && 2 * distance < name.size()) {
      best_distance = distance;
      best = option.name;
    }
  }
  if (best || name.size() < 3) return best;
  for (const Known& option : known) {
    if (option.name.rfind(name, 0) == 0 || name.rfind(option.name, 0) == 0) return option.name;
  }
  return std::nullopt;
}

const Known* find_known(const std::string& name, const std::vector<Known>& known) {
  const auto found = std::find_if(known.begin(), known.end(),
                                  [&](const Known& option) { return option.name == name; });
  return found == known.end() ? nullptr : &*found;
}

[[noreturn]] void unknown_option(const std::string& word, const std::string& name,
                                 const std::vector<Known>& known) {
  if (const auto guess = nearest(name, known)) {
    throw usage_error("{}: no such option; did you mean --{}? (l2sweep --help lists them)", word,
                      *guess);
  }
  throw usage_error("{}: no such option; l2sweep --help lists them", word);
}

/// A word that is an option's value, not an option: anything but "--x" and "-x" ("-0,0.1",
/// a list that starts with a negative number, is a value).
bool is_value(const std::string& word) {
  if (word.size() < 2 || word[0] != '-') return true;
  return std::isdigit(static_cast<unsigned char>(word[1])) != 0 || word[1] == '.';
}

/// The option that took the last value, and that value.
struct LastValue {
  std::string option;
  std::string value;
};

[[noreturn]] void stray_word(const std::string& word, const std::optional<LastValue>& last) {
  if (last && takes_list(last->option) && word == ",") {
    throw usage_error(
        "--{} {} ,: a list takes no spaces; expected one word such as --{} 0.001,0.01",
        last->option, last->value, last->option);
  }
  if (last && takes_list(last->option) && !last->value.empty() &&
      (last->value.back() == ',' || word.front() == ',' || parse_double(word).has_value())) {
    const std::string joined = last->value + (last->value.back() == ',' ? "" : ",") +
                               (word.front() == ',' ? word.substr(1) : word);
    throw usage_error(
        "--{} {} {}: a list takes no spaces; expected one word such as --{} {} (or quote it)",
        last->option, last->value, word, last->option, joined);
  }
  throw usage_error("unexpected argument '{}'; options start with --, see l2sweep --help", word);
}

}  // namespace

void check_arguments(int argc, const char* const* argv) {
  const std::vector<Known> known = known_options();
  std::optional<LastValue> last;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "-h") continue;
    if (is_value(word)) stray_word(word, last);
    if (word.rfind("--", 0) != 0) unknown_option(word, word.substr(1), known);
    const size_t equals = word.find('=');
    const std::string name =
        word.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    const Known* option = find_known(name, known);
    if (option == nullptr) unknown_option("--" + name, name, known);
    if (option->value_name == nullptr) {
      if (equals != std::string::npos) {
        throw usage_error("--{}: a switch; expected it without a value (got '{}')", name,
                          word.substr(equals + 1));
      }
      last.reset();
      continue;
    }
    if (equals != std::string::npos) {
      last = LastValue{name, word.substr(equals + 1)};
      continue;
    }
    if (i + 1 >= argc) {
      throw usage_error("--{}: expected a value ({}) after it", name, option->value_name);
    }
    const std::string value = argv[i + 1];
    if (!is_value(value)) {
      throw usage_error("--{}: expected a value ({}) after it, got {}", name, option->value_name,
                        value);
    }
    last = LastValue{name, value};
    ++i;
  }
}

}  // namespace l2sweep::cli
