#include "l2sweep/train/engine_registry.h"

#include <fmt/format.h>

#include "l2sweep/base/error.h"
#include "l2sweep/config/options.h"
#include "l2sweep/train/engines/autograd.h"
#include "l2sweep/train/engines/fused_cpu.h"
#include "l2sweep/train/engines/tensor.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

/// The Adam update an engine applies, in words.
std::string update_words(const EngineSetup& setup) {
  const bool keras = setup.adam == AdamVariant::kKeras;
  std::string update = keras ? "Keras' Adam update, epsilon hat" : "torch::optim::Adam's update";
  if (setup.weight_decay) update += keras ? ", Keras' AdamW decay on W1" : ", AdamW's decay on W1";
  return update;
}

template <typename E>
std::unique_ptr<Engine> make(std::vector<Member> members, const TrainOptions& options,
                             const torch::Device& device) {
  return std::make_unique<E>(std::move(members), options, device);
}

std::vector<EngineEntry> entries() {
  std::vector<EngineEntry> engines;
  {
    EngineEntry fused;
    fused.name = "fused";
    fused.stacks_members = true;
    // The seed's hidden layer, cut in two.
    fused.step_pieces_per_run = FusedCpuEngine::pieces_per_member(kHiddenUnits);
    fused.runs_on_cuda = false;
    fused.summary = "explicit gradients and a one-pass Adam over every member, on the CPU";
    fused.describe = [](const EngineSetup& setup) {
      return "Adam, fused CPU step (" + update_words(setup) + " in one pass)";
    };
    fused.make = make<FusedCpuEngine>;
    engines.push_back(std::move(fused));
  }
  {
    EngineEntry tensor;
    tensor.name = "tensor";
    tensor.stacks_members = true;
    tensor.replays_cuda_graphs = true;
    tensor.summary =
        "explicit gradients and Adam as stacked tensor ops, all state on the device (CUDA "
        "graphs on a GPU)";
    tensor.describe = [](const EngineSetup& setup) {
      return setup.cuda_graphs
                 ? "Adam, device step replayed from a CUDA graph (" + update_words(setup) +
                       ", step count on the device)"
                 : "Adam, device step (" + update_words(setup) + ", step count on the device)";
    };
    tensor.make = make<TensorEngine>;
    engines.push_back(std::move(tensor));
  }
  {
    EngineEntry autograd;
    autograd.name = "autograd";
    autograd.summary =
        "the torch::nn::Sequential model, autograd and torch::optim::Adam, one member at a time";
    autograd.describe = [](const EngineSetup& setup) -> std::string {
      if (setup.adam == AdamVariant::kKeras) {
        return "KerasAdam (" + update_words(setup) + "), autograd";
      }
      return setup.weight_decay ? "torch::optim::AdamW (decay on W1 only)" : "torch::optim::Adam";
    };
    autograd.make = make<AutogradEngine>;
    engines.push_back(std::move(autograd));
  }
  return engines;
}

}  // namespace

const std::vector<EngineEntry>& engine_registry() {
  static const std::vector<EngineEntry> registry = entries();
  return registry;
}

const EngineEntry* find_engine(std::string_view name) {
  const std::string now = current_value("engine", std::string(name));
  for (const EngineEntry& entry : engine_registry()) {
    if (entry.name == now) return &entry;
  }
  return nullptr;
}

const EngineEntry& engine_named(std::string_view name) {
  if (const EngineEntry* entry = find_engine(name)) return *entry;
  throw usage_error("--engine '{}': expected {}", name, engine_choices());
}

std::string engine_choices() {
  std::string choices = "auto";
  const auto& registry = engine_registry();
  for (size_t i = 0; i < registry.size(); ++i) {
    choices += (i + 1 == registry.size() ? " or " : ", ") + registry[i].name;
  }
  return choices;
}

std::string with_engine_choices(std::string help) {
  const std::string key = "{engines}";
  if (const size_t at = help.find(key); at != std::string::npos) {
    help.replace(at, key.size(), engine_choices());
  }
  return help;
}

const EngineEntry& auto_engine(const torch::Device& device, bool cuda_graphs) {
  if (device.is_cpu()) return engine_named("fused");
  return engine_named(cuda_graphs ? "tensor" : "autograd");
}

}  // namespace l2sweep
