#include "l2sweep/base/text.h"

namespace l2sweep {

std::string wrap_words(const std::string& text, size_t width, size_t first_column,
                       const std::string& indent) {
  std::string out;
  size_t column = first_column;
  bool line_empty = true;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (!line_empty && column + 1 + word.size() > width) {
      out += "\n" + indent;
      column = indent.size();
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    line_empty = false;
  }
  return out;
}

}  // namespace l2sweep
