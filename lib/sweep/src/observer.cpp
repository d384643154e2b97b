#include "l2sweep/sweep/observer.h"

#include <fmt/format.h>

#include <algorithm>

#include "l2sweep/train/engine_registry.h"

namespace l2sweep {

SweepInfo describe_sweep(const Plan& plan, const DatasetInfo& data) {
  SweepInfo info;
  info.config = plan.config;
  info.device = plan.device.str();
  EngineSetup setup;
  setup.adam = plan.config.adam;
  setup.cuda_graphs = plan.cuda_graphs;
  setup.weight_decay =
      std::any_of(plan.config.weight_decays.begin(), plan.config.weight_decays.end(),
                  [](double decay) { return decay != 0; });
  info.engine = plan.engine->describe(setup);
  info.jobs = plan.jobs;
  info.unit_threads = plan.unit_threads;
  for (const Cohort& unit : plan.units) info.runs += static_cast<int64_t>(unit.runs.size());
  // A unit is a cohort (stepped together), a slice of one, or a single run.
  std::string unit;
  if (plan.engine->stacks_members) {
    size_t cohorts = 0;
    for (size_t u = 0; u < plan.units.size(); ++u) {
      const bool seen = std::any_of(plan.units.begin(), plan.units.begin() + u,
                                    [&](const Cohort& c) { return c.seed == plan.units[u].seed; });
      cohorts += seen ? 0 : 1;
    }
    unit = cohorts == plan.units.size() ? "cohort" : "slice";
    unit += plan.jobs == 1 ? "" : "s";
    unit += " ";
  }
  info.pace = fmt::format("{} {}at a time", plan.jobs, unit);
  if (plan.unit_threads > 1) info.pace += fmt::format(" on {} threads each", plan.unit_threads);
  info.data = data;
  return info;
}

void ObserverList::on_sweep_begin(const SweepInfo& sweep) {
  for (auto* observer : observers_) observer->on_sweep_begin(sweep);
}

void ObserverList::on_run_start(const RunSpec& run, int64_t epochs) {
  for (auto* observer : observers_) observer->on_run_start(run, epochs);
}

void ObserverList::on_batch_end(const Cohort& cohort, int64_t epoch, int64_t step, int64_t steps) {
  for (auto* observer : observers_) observer->on_batch_end(cohort, epoch, step, steps);
}

void ObserverList::on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) {
  for (auto* observer : observers_) observer->on_epoch_end(run, metrics);
}

void ObserverList::on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) {
  for (auto* observer : observers_) observer->on_epoch_restored(run, metrics);
}

void ObserverList::on_run_end(const RunResult& result) {
  for (auto* observer : observers_) observer->on_run_end(result);
}

void ObserverList::on_sweep_end(const SweepOutcome& outcome) {
  for (auto* observer : observers_) observer->on_sweep_end(outcome);
}

}  // namespace l2sweep
