#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// Which run of the sweep this is: the settings that tell it apart from the others.
struct RunSpec {
  double l2 = 0;
  uint64_t seed = 0;
  int64_t index = 0;        ///< 0-based position in the sweep's plan
  int64_t count = 0;        ///< runs in the sweep (0 in a RunResult whose run never started)
  double dropout = 0;       ///< the Dropout rate after the hidden layer (0: no Dropout)
  double weight_decay = 0;  ///< decoupled weight decay on the first layer's kernel
};

/// The folder and file stem of a run's own outputs, named by every setting it has:
/// "l2-0.001_seed-0", "l2-0_dropout-0.2_seed-0", "l2-0_wd-0.001_seed-0" (a dropout rate or
/// weight decay of 0 is left out, so L2-only sweeps keep their names).
std::string run_name(const RunSpec& run);

/// The run's settings besides its seed, as people read them: "l2=0.001",
/// "l2=0 dropout=0.2", "l2=0 wd=0.001" (zero dropout and weight decay left out).
std::string setting_label(const RunSpec& run);

/// Whether two runs have the same settings (l2, dropout and weight decay), seeds aside.
bool same_setting(const RunSpec& a, const RunSpec& b);

/// The runs a configuration asks for, in plan order: every combination of the lists (l2, then
/// dropout, then weight decay, the last varying fastest), each with every seed in turn.
std::vector<RunSpec> plan_runs(const SweepConfig& config);

/// Runs that share a data order (the same seed and data, differing only in their
/// regularisation), which an engine trains together, one step at a time. A member's numbers
/// do not depend on which other members share its cohort.
struct Cohort {
  uint64_t seed = 0;
  std::vector<RunSpec> runs;  ///< in plan order
};

/// `runs` grouped into cohorts by seed, each in the order given, cohorts in the order of
/// their first run.
std::vector<Cohort> cohorts_of(const std::vector<RunSpec>& runs);

/// Splits the largest cohort in two (the first half one larger) until there are `units`, or
/// every cohort is a single run. A member's numbers do not depend on its cohort's other
/// members, so this only decides what trains side by side.
void slice_cohorts(std::vector<Cohort>& cohorts, size_t units);

/// How whole cohorts share the cores: `jobs` cohorts at a time, each spreading its step over
/// `threads` threads.
struct CohortSchedule {
  int64_t jobs = 1;
  int64_t threads = 1;
};

/// For an engine that steps a cohort's members together and can spread one step over threads,
/// on `cores` CPU cores, each run's step being `pieces_per_run` pieces of equal work (the fused
/// engine's halves of the inputs): balances the cores by work, not by member, and never slices a
/// cohort. When the cohorts divide evenly over the cores, one per core at a time on one thread each
/// (no thread ever waits for another); otherwise each cohort's step is spread over as many threads
/// as it has pieces, up to the cores, and as many cohorts as then fit train at once (three runs on
/// two cores: one cohort on both; six seeds on two cores: three cohorts on each).
CohortSchedule plan_cohort_units(const std::vector<Cohort>& cohorts, int64_t cores,
                                 int64_t pieces_per_run);

}  // namespace l2sweep
