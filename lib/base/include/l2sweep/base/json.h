#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace l2sweep {

/// A small streaming writer of indented JSON, enough for summary.json. Non-finite numbers
/// are written as null (JSON has no NaN); doubles use the shortest text that reads back
/// to the same value.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(double number);
  JsonWriter& value(int64_t number);
  JsonWriter& value(uint64_t number);
  JsonWriter& value(bool flag);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& null();

  /// The document so far, with a final newline once the outermost value is closed.
  const std::string& str() const { return out_; }

 private:
  void before_value();
  JsonWriter& close(char bracket);
  void newline();
  void write_string(std::string_view text);

  struct Level {
    bool is_object;
    int64_t items;
  };
  std::string out_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

}  // namespace l2sweep
