#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace l2sweep::compare {

/// Scalars from event files: tag -> step -> value.
using EventScalars = std::map<std::string, std::map<int64_t, double>>;

/// Reads the TFRecord-framed `Event` protocol buffers of one TensorBoard event file, checking
/// both masked CRC-32Cs of every record, and adds every scalar it holds to `scalars`: the
/// classic `simple_value`, and the TF2 tensor scalars (`tensor` of DT_FLOAT or DT_DOUBLE in
/// float_val, double_val or tensor_content). A value for a step already present replaces it
/// (a restarted run rewrites its steps). A data Error names the file and the record for a bad
/// CRC, a truncated record or a malformed protocol buffer.
void read_event_scalars(const std::filesystem::path& file, EventScalars& scalars);

/// Whether `name` is an event file's name (contains "tfevents").
bool is_event_file_name(const std::string& name);

}  // namespace l2sweep::compare
