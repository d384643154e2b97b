#include "l2sweep/train/dropout.h"

#include <torch/utils.h>

#include "l2sweep/base/error.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

/// SplitMix64's finaliser: a seed for each (run seed, epoch) far from the run seed itself,
/// which seeds the initial weights and the shuffles.
uint64_t mix(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

}  // namespace

torch::Tensor dropout_noise(uint64_t seed, int64_t epoch, int64_t examples, int64_t units) {
  at::Generator generator =
      make_cpu_generator(mix(mix(seed ^ 0x64726f706f7574ULL) + static_cast<uint64_t>(epoch)));
  return torch::rand({examples, units}, generator, torch::kFloat32);
}

float dropout_scale(double rate) { return static_cast<float>(1.0 / (1.0 - rate)); }

KerasDropoutImpl::KerasDropoutImpl(double rate) : rate_(rate) {}

void KerasDropoutImpl::set_noise(const torch::Tensor& noise) {
  keep_ = noise.ge(rate_).to(torch::kFloat32);
}

torch::Tensor KerasDropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || rate_ == 0) return x;
  if (!keep_.defined() || keep_.sizes() != x.sizes()) {
    throw Error(ErrorKind::kInternal, "a Dropout layer ran in training without its batch's mask");
  }
  return x.mul(dropout_scale(rate_)).mul(keep_.to(x.device()));
}

}  // namespace l2sweep
