#include "l2sweep/compare/tfevents.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2sweep/base/crc32c.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"

namespace l2sweep::compare {
namespace fs = std::filesystem;
namespace {

/// Protocol buffer wire types.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

/// TensorFlow's DataType values for the scalars Keras writes.
constexpr uint64_t kDtFloat = 1;
constexpr uint64_t kDtDouble = 2;

/// A malformed message; the caller adds the file and record.
struct Malformed {
  const char* what;
};

/// Reads one protocol buffer message field by field.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool done() const { return at_ == data_.size(); }

  /// The next field's number and wire type.
  std::pair<uint32_t, uint32_t> next_key() {
    const uint64_t key = varint();
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff) throw Malformed{"a field number out of range"};
    return {static_cast<uint32_t>(key >> 3), static_cast<uint32_t>(key & 7)};
  }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ >= data_.size()) throw Malformed{"a varint past the end of its message"};
      const auto byte = static_cast<uint8_t>(data_[at_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    throw Malformed{"a varint longer than 10 bytes"};
  }

  std::string_view bytes(size_t count) {
    if (count > data_.size() - at_) throw Malformed{"a field longer than its message"};
    const std::string_view piece = data_.substr(at_, count);
    at_ += count;
    return piece;
  }

  std::string_view length_delimited() { return bytes(varint()); }

  uint64_t fixed64() {
    uint64_t value = 0;
    std::memcpy(&value, bytes(8).data(), 8);  // little-endian, as x86 and ARM are
    return value;
  }

  uint32_t fixed32() {
    uint32_t value = 0;
    std::memcpy(&value, bytes(4).data(), 4);
    return value;
  }

  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case kVarint:
        varint();
        return;
      case kFixed64:
        bytes(8);
        return;
      case kBytes:
        length_delimited();
        return;
      case kFixed32:
        bytes(4);
        return;
      default:
        throw Malformed{"an unsupported wire type (groups)"};
    }
  }

 private:
  std::string_view data_;
  size_t at_ = 0;
};

float float_of(uint32_t bits) {
  float value = 0;
  std::memcpy(&value, &bits, 4);
  return value;
}

double double_of(uint64_t bits) {
  double value = 0;
  std::memcpy(&value, &bits, 8);
  return value;
}

/// The number of elements a TensorShapeProto describes (1 for a scalar's empty shape).
int64_t element_count(std::string_view shape) {
  int64_t count = 1;
  for (WireReader reader(shape); !reader.done();) {
    const auto [field, type] = reader.next_key();
    if (field == 2 && type == kBytes) {  // dim
      int64_t size = 1;
      for (WireReader dim(reader.length_delimited()); !dim.done();) {
        const auto [dim_field, dim_type] = dim.next_key();
        if (dim_field == 1 && dim_type == kVarint) {
          size = static_cast<int64_t>(dim.varint());
        } else {
          dim.skip(dim_type);
        }
      }
      count *= size;
    } else if (field == 3 && type == kVarint && reader.varint() != 0) {  // unknown_rank
      return -1;
    } else if (!(field == 3 && type == kVarint)) {
      reader.skip(type);
    }
  }
  return count;
}

/// The value of a one-element float or double TensorProto; nullopt for anything else.
std::optional<double> tensor_scalar(std::string_view tensor) {
  uint64_t dtype = 0;
  int64_t count = 1;
  std::vector<double> values;
  std::string_view content;
  for (WireReader reader(tensor); !reader.done();) {
    const auto [field, type] = reader.next_key();
    if (field == 1 && type == kVarint) {
      dtype = reader.varint();
    } else if (field == 2 && type == kBytes) {
      count = element_count(reader.length_delimited());
    } else if (field == 4 && type == kBytes) {
      content = reader.length_delimited();
    } else if (field == 5 && type == kBytes) {  // float_val, packed
      for (WireReader packed(reader.length_delimited()); !packed.done();)
        values.push_back(float_of(packed.fixed32()));
    } else if (field == 5 && type == kFixed32) {
      values.push_back(float_of(reader.fixed32()));
    } else if (field == 6 && type == kBytes) {  // double_val, packed
      for (WireReader packed(reader.length_delimited()); !packed.done();)
        values.push_back(double_of(packed.fixed64()));
    } else if (field == 6 && type == kFixed64) {
      values.push_back(double_of(reader.fixed64()));
    } else {
      reader.skip(type);
    }
  }
  if (count != 1 || (dtype != kDtFloat && dtype != kDtDouble)) return std::nullopt;
  if (!content.empty()) {
    if (dtype == kDtFloat && content.size() == 4) {
      uint32_t bits = 0;
      std::memcpy(&bits, content.data(), 4);
      return float_of(bits);
    }
    if (dtype == kDtDouble && content.size() == 8) {
      uint64_t bits = 0;
      std::memcpy(&bits, content.data(), 8);
      return double_of(bits);
    }
    throw Malformed{"a scalar tensor whose content is not one value of its type"};
  }
  if (values.size() == 1) return values.front();
  return std::nullopt;
}

/// One scalar of an Event's Summary.
struct TaggedScalar {
  std::string tag;
  double value = 0;
};

/// The scalar of one Summary.Value, if it holds one.
std::optional<TaggedScalar> read_value(std::string_view value) {
  std::string tag;
  std::optional<double> scalar;
  for (WireReader reader(value); !reader.done();) {
    const auto [field, type] = reader.next_key();
    if (field == 1 && type == kBytes) {
      tag = std::string(reader.length_delimited());
    } else if (field == 2 && type == kFixed32) {  // simple_value
      scalar = float_of(reader.fixed32());
    } else if (field == 8 && type == kBytes) {  // tensor
      if (auto from_tensor = tensor_scalar(reader.length_delimited())) scalar = from_tensor;
    } else {
      reader.skip(type);
    }
  }
  if (!scalar || tag.empty()) return std::nullopt;
  return TaggedScalar{tag, *scalar};
}

/// One Event: its wall time, step and scalars.
struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::vector<TaggedScalar> scalars;
};

Event read_event(std::string_view payload) {
  Event event;
  std::vector<std::string_view> summaries;
  for (WireReader reader(payload); !reader.done();) {
    const auto [field, type] = reader.next_key();
    if (field == 1 && type == kFixed64) {
      event.wall_time = double_of(reader.fixed64());
    } else if (field == 2 && type == kVarint) {
      event.step = static_cast<int64_t>(reader.varint());
    } else if (field == 5 && type == kBytes) {
      summaries.push_back(reader.length_delimited());
    } else {
      reader.skip(type);
    }
  }
  for (const std::string_view summary : summaries) {
    for (WireReader reader(summary); !reader.done();) {
      const auto [field, type] = reader.next_key();
      if (field == 1 && type == kBytes) {
        if (auto scalar = read_value(reader.length_delimited())) {
          event.scalars.push_back(std::move(*scalar));
        }
      } else {
        reader.skip(type);
      }
    }
  }
  return event;
}

uint32_t little_endian32(const std::string& data, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, data.data() + at, 4);
  return value;
}

/// The content of the event file `file`, refusing one too large to be epoch scalars.
std::string read_event_file(const fs::path& file) {
  std::error_code error;
  const auto size = fs::file_size(file, error);
  if (error)
    throw data_error("{}: cannot read the event file ({})", file.string(), error.message());
  if (size > kMaxEventFileBytes) {
    throw data_error(
        "{}: {} bytes, more than the {} bytes an event file of epoch scalars can "
        "plausibly take",
        file.string(), size, kMaxEventFileBytes);
  }
  auto content = read_text_file(file);
  if (!content) throw data_error("{}: cannot read the event file", file.string());
  return std::move(*content);
}

/// The data of TFRecord number `record`, which starts at byte `at` of `data`, with both of its
/// CRCs checked.
std::string_view record_payload(const fs::path& file, const std::string& data, size_t at,
                                int64_t record) {
  if (data.size() - at < 12) {
    throw data_error("{}: record {} is truncated at byte {} (a TFRecord header is 12 bytes)",
                     file.string(), record, data.size());
  }
  const std::string_view header(data.data() + at, 8);
  if (masked_crc32c(header) != little_endian32(data, at + 8)) {
    throw data_error("{}: record {} at byte {} has a bad length CRC; the file is corrupt",
                     file.string(), record, at);
  }
  uint64_t length = 0;
  std::memcpy(&length, header.data(), 8);
  if (length > data.size() - at - 12 || data.size() - at - 12 - length < 4) {
    // A record is its 12-byte header, the announced data and a 4-byte data CRC.
    throw data_error(
        "{}: record {} at byte {} is truncated: its header announces {} bytes of data, so "
        "the record needs {} bytes with its CRC, and the file has {} left",
        file.string(), record, at, length,
        length > UINT64_MAX - 16 ? std::string("more than 2^64") : std::to_string(length + 16),
        data.size() - at);
  }
  const std::string_view payload(data.data() + at + 12, length);
  if (masked_crc32c(payload) != little_endian32(data, at + 12 + length)) {
    throw data_error("{}: record {} at byte {} has a bad data CRC; the file is corrupt",
                     file.string(), record, at);
  }
  return payload;
}

/// The Event in the payload of record number `record` (at byte `at`).
Event record_event(const fs::path& file, std::string_view payload, int64_t record, size_t at) {
  try {
    return read_event(payload);
  } catch (const Malformed& e) {
    throw data_error("{}: record {} at byte {} is not an Event protocol buffer ({})", file.string(),
                     record, at, e.what);
  }
}

/// Adds `event` to the last of `trainings`, or to a new one where it starts another training.
void add_event(std::vector<EventTraining>& trainings, const fs::path& file, const Event& event) {
  // A tag whose step does not move past its last value starts another training: a script
  // rerun into the same writer. The file's first event (its version) dates the first one.
  const bool restarts =
      !trainings.empty() &&
      std::any_of(event.scalars.begin(), event.scalars.end(), [&](const TaggedScalar& s) {
        const auto series = trainings.back().scalars.find(s.tag);
        return series != trainings.back().scalars.end() &&
               series->second.rbegin()->first >= event.step;
      });
  if (trainings.empty() || restarts) {
    trainings.push_back({file, event.wall_time, event.wall_time, trainings.size() + 1, {}});
  }
  trainings.back().last_wall_time = std::max(trainings.back().last_wall_time, event.wall_time);
  for (const TaggedScalar& scalar : event.scalars) {
    trainings.back().scalars[scalar.tag][event.step] = scalar.value;
  }
}

/// An empty file (its writer killed before the first flush): a training without scalars,
/// dated by its name (events.out.tfevents.<seconds>.<host>...).
EventTraining empty_training(const fs::path& file) {
  const std::string name = file.filename().string();
  const size_t stamp = name.find("tfevents.");
  const double when =
      stamp == std::string::npos ? 0 : std::strtod(name.c_str() + stamp + 9, nullptr);
  return {file, when, when, 1, {}};
}

}  // namespace

bool is_event_file_name(const std::string& name) {
  return name.find("tfevents") != std::string::npos;
}

std::vector<EventTraining> read_event_trainings(const fs::path& file) {
  std::vector<EventTraining> trainings;
  const std::string data = read_event_file(file);
  size_t at = 0;
  for (int64_t record = 1; at < data.size(); ++record) {
    const std::string_view payload = record_payload(file, data, at, record);
    const Event event = record_event(file, payload, record, at);
    at += 12 + payload.size() + 4;
    add_event(trainings, file, event);
  }
  if (trainings.empty()) trainings.push_back(empty_training(file));
  return trainings;
}

}  // namespace l2sweep::compare
