#include "l2sweep/base/json.h"

#include <cmath>

#include "l2sweep/base/error.h"

namespace l2sweep {

std::string json_text(const Json& json) {
  return json.dump(/*indent=*/2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) +
         "\n";
}

Json json_number(double value) { return std::isfinite(value) ? Json(value) : Json(); }

Json parse_json(const std::string& text, const std::filesystem::path& path) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw data_error("{}: not valid JSON at byte {}; expected a file written by l2sweep",
                     path.string(), e.byte);
  }
}

bool is_utf8(const std::string& text) {
  try {
    (void)Json(text).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

}  // namespace l2sweep
