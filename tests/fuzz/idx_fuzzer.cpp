// libFuzzer target for the IDX reader: any bytes, raw or gzip, must give an IdxArray or an
// l2sweep::Error, never a crash, a sanitizer report, a hang or a huge allocation.
// Built by -DL2SWEEP_FUZZ=ON with clang++; run with scripts/fuzz_idx.sh.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "l2sweep/base/error.h"
#include "l2sweep/data/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // read_idx reads from a path: give it one in the fuzzer's own temporary folder.
  static const std::string path = "/tmp/l2sweep-idx-fuzz-" + std::to_string(::getpid());
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return 0;
  std::fwrite(data, 1, size, file);
  std::fclose(file);
  try {
    const l2sweep::IdxArray array = l2sweep::read_idx(path);
    int64_t expected = 1;
    for (const int64_t d : array.dims) expected *= d;
    if (static_cast<int64_t>(array.values.size()) != expected) __builtin_trap();
  } catch (const l2sweep::Error&) {
    // A clear error is the right answer to bad bytes.
  }
  return 0;
}
