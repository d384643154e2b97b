#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace l2sweep::compare {

/// Scalars from event files: tag -> step -> value.
using EventScalars = std::map<std::string, std::map<int64_t, double>>;

/// Far above any real event file of epoch scalars (Keras' histograms of a 784x128 kernel every
/// epoch for 1,000 epochs take ~100 MB); larger ones are refused before they are read.
inline constexpr uintmax_t kMaxEventFileBytes = uintmax_t{1} << 30;

/// One training's scalars in an event file. Keras writes a new file each time a script runs
/// into the same log_dir, and a reused writer (a second fit()) starts its steps again in the
/// same file: each is a training of its own, never spliced with another.
struct EventTraining {
  std::filesystem::path file;
  double wall_time = 0;       ///< its first event's, in seconds since the epoch
  double last_wall_time = 0;  ///< its last event's
  size_t part = 1;            ///< 1 for the file's first training, 2 after a restart inside it, ...
  EventScalars scalars;
};

/// Reads the TFRecord-framed `Event` protocol buffers of one TensorBoard event file, checking
/// both masked CRC-32Cs of every record, and returns the scalars it holds (the classic
/// `simple_value`, and the TF2 tensor scalars: `tensor` of DT_FLOAT or DT_DOUBLE in float_val,
/// double_val or tensor_content), one EventTraining per training: a new one starts where a
/// tag's step does not move past its last value. A data Error names the file and the record
/// for a bad CRC, a truncated record or a malformed protocol buffer.
std::vector<EventTraining> read_event_trainings(const std::filesystem::path& file);

/// Whether `name` is an event file's name (contains "tfevents").
bool is_event_file_name(const std::string& name);

}  // namespace l2sweep::compare
