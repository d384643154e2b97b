#pragma once

#include <cstddef>
#include <string>

namespace l2sweep {

/// `text` broken at spaces into lines of at most `width` columns (a longer word stays whole),
/// for the console and --help. The first line starts at column `first_column` (what precedes
/// it is the caller's), each further line with `indent`; no newline at the end.
std::string wrap_words(const std::string& text, size_t width, size_t first_column,
                       const std::string& indent);

}  // namespace l2sweep
