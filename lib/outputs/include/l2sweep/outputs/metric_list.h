#pragma once

#include <string>

#include "l2sweep/base/json.h"

namespace l2sweep {

/// What `l2sweep --list-metrics --json` prints, from the metric tables themselves
/// (kEpochMetricFields, kSettingStatFields): each per-epoch metric with its metrics.csv column,
/// TensorBoard writer and tag, whether summary.json and the console carry it, and its doc;
/// each per-setting statistic; and the histogram tags. Scripts and tests read this rather
/// than keeping lists of their own.
Json metric_listing();

/// As docs/outputs.md lists it (scripts/docs.py pastes it there): Markdown bullets.
std::string metric_listing_markdown();

}  // namespace l2sweep
