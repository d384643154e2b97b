#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace l2sweep {

/// JSON as l2sweep writes and reads it (nlohmann-json, keys kept in insertion order).
using Json = nlohmann::ordered_json;

/// `json` as l2sweep's files hold it: indented by two spaces, with a final newline. NaN and
/// infinities are written as null (JSON has neither); bytes that are not UTF-8 are replaced
/// by U+FFFD rather than failing.
std::string json_text(const Json& json);

/// `value` as l2sweep's JSON records a number: null for NaN and infinities (JSON has neither).
Json json_number(double value);

/// The JSON document in `text`, read from `path`; a data Error naming the file and where the
/// text stops being JSON.
Json parse_json(const std::string& text, const std::filesystem::path& path);

/// Whether `text` is valid UTF-8 (what a JSON string can hold unchanged).
bool is_utf8(const std::string& text);

}  // namespace l2sweep
