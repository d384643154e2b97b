#include "l2sweep/base/stop_token.h"

#include <stdexcept>

namespace l2sweep {

StopToken StopToken::also(const StopSource& other) const {
  StopToken combined = *this;
  for (auto& source : combined.sources_) {
    if (source == nullptr) {
      source = &other;
      return combined;
    }
  }
  throw std::logic_error("a StopToken watches at most two sources");
}

}  // namespace l2sweep
