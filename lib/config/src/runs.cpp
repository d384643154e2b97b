#include "l2sweep/config/runs.h"

#include <fmt/format.h>

#include <algorithm>

namespace l2sweep {

std::string run_name(const RunSpec& run) {
  std::string name = fmt::format("l2-{}", run.l2);
  if (run.dropout != 0) name += fmt::format("_dropout-{}", run.dropout);
  if (run.weight_decay != 0) name += fmt::format("_wd-{}", run.weight_decay);
  return name + fmt::format("_seed-{}", run.seed);
}

std::string setting_label(const RunSpec& run) {
  std::string label = fmt::format("l2={}", run.l2);
  if (run.dropout != 0) label += fmt::format(" dropout={}", run.dropout);
  if (run.weight_decay != 0) label += fmt::format(" wd={}", run.weight_decay);
  return label;
}

bool same_setting(const RunSpec& a, const RunSpec& b) {
  return a.l2 == b.l2 && a.dropout == b.dropout && a.weight_decay == b.weight_decay;
}

std::vector<RunSpec> plan_runs(const SweepConfig& config) {
  std::vector<RunSpec> runs;
  const auto count = static_cast<int64_t>(config.l2_strengths.size() * config.dropout_rates.size() *
                                          config.weight_decays.size()) *
                     config.seeds;
  for (const double l2 : config.l2_strengths) {
    for (const double dropout : config.dropout_rates) {
      for (const double decay : config.weight_decays) {
        for (int64_t offset = 0; offset < config.seeds; ++offset) {
          RunSpec run;
          // + 0.0: -0 is the unregularised control, 0.
          run.l2 = l2 + 0.0;
          run.dropout = dropout + 0.0;
          run.weight_decay = decay + 0.0;
          run.seed = config.seed + static_cast<uint64_t>(offset);
          run.index = static_cast<int64_t>(runs.size());
          run.count = count;
          runs.push_back(run);
        }
      }
    }
  }
  return runs;
}

std::vector<Cohort> cohorts_of(const std::vector<RunSpec>& runs) {
  std::vector<Cohort> cohorts;
  for (const RunSpec& run : runs) {
    auto found = std::find_if(cohorts.begin(), cohorts.end(),
                              [&](const Cohort& cohort) { return cohort.seed == run.seed; });
    if (found == cohorts.end()) {
      cohorts.push_back({run.seed, {}});
      found = cohorts.end() - 1;
    }
    found->runs.push_back(run);
  }
  return cohorts;
}

void slice_cohorts(std::vector<Cohort>& cohorts, size_t units) {
  while (cohorts.size() < units) {
    const auto largest = std::max_element(
        cohorts.begin(), cohorts.end(),
        [](const Cohort& a, const Cohort& b) { return a.runs.size() < b.runs.size(); });
    if (largest == cohorts.end() || largest->runs.size() < 2) return;
    const auto half = static_cast<std::ptrdiff_t>((largest->runs.size() + 1) / 2);
    Cohort second{largest->seed, {largest->runs.begin() + half, largest->runs.end()}};
    largest->runs.resize(static_cast<size_t>(half));
    cohorts.insert(largest + 1, std::move(second));
  }
}

CohortSchedule plan_cohort_units(const std::vector<Cohort>& cohorts, int64_t cores,
                                 int64_t pieces_per_run) {
  const int64_t cpu = std::max<int64_t>(1, cores);
  const auto count = static_cast<int64_t>(cohorts.size());
  if (count == 0) return {};
  if (count % cpu == 0) return {cpu, 1};
  size_t largest = 1;
  for (const Cohort& cohort : cohorts) largest = std::max(largest, cohort.runs.size());
  const int64_t pieces = std::max<int64_t>(1, pieces_per_run) * static_cast<int64_t>(largest);
  const int64_t threads = std::min(cpu, pieces);
  return {std::clamp<int64_t>(cpu / threads, 1, count), threads};
}

}  // namespace l2sweep
