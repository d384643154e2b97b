#include "l2sweep/data/data.h"

#include <fmt/format.h>
#include <zlib.h>
#if L2SWEEP_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/crc32c.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/memory.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// The IDX type code for unsigned bytes, the only one MNIST-family files use.
constexpr uint8_t kUnsignedByteType = 0x08;
/// More dimensions than any image dataset has: a larger count means a corrupt header.
constexpr int kMaxIdxDims = 4;
/// Deflate cannot expand data more than about 1032:1, so a .gz of n bytes holds at most this
/// many times n; a header declaring more is rejected before anything is allocated.
constexpr int64_t kMaxDeflateRatio = 1032;
/// gz payloads are read in chunks of this size so a lying header cannot force a huge allocation.
constexpr int64_t kReadChunk = int64_t{1} << 24;

bool is_gzip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 2> magic{};
  in.read(reinterpret_cast<char*>(magic.data()), magic.size());
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

/// Reads bytes through zlib, which also passes raw (uncompressed) files through unchanged.
class ByteSource {
 public:
  explicit ByteSource(const fs::path& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (file_ == nullptr) {
      throw data_error("{}: cannot open for reading", path.string());
    }
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;
  ~ByteSource() { gzclose(file_); }

  /// Reads up to `count` bytes; returns how many were read (fewer only at the end).
  int64_t read(uint8_t* destination, int64_t count) {
    int64_t total = 0;
    while (total < count) {
      const auto want = static_cast<unsigned>(std::min<int64_t>(count - total, kReadChunk));
      const int got = gzread(file_, destination + total, want);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        throw data_error("{}: corrupt gzip data after {} bytes ({})", path_.string(),
                         total + offset_, message);
      }
      if (got == 0) {
        // zlib returns what a cut-off gzip stream held as if it had ended (so that a file being
        // written can be read): Z_BUF_ERROR tells the stream, its trailer's checksum and size
        // among it, never ended.
        int code = Z_OK;
        gzerror(file_, &code);
        if (code == Z_BUF_ERROR) {
          throw data_error(
              "{}: truncated: the gzip data ends after {} bytes without its end and checksum; "
              "expected a whole gzip file",
              path_.string(), total + offset_);
        }
        break;
      }
      total += got;
    }
    offset_ += total;
    return total;
  }

 private:
  fs::path path_;
  gzFile file_;
  int64_t offset_ = 0;
};

uint32_t big_endian_u32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

}  // namespace

namespace {

/// The file's size in bytes, after checking it is a non-empty regular file.
int64_t checked_file_size(const fs::path& path) {
  std::error_code error;
  const auto status = fs::status(path, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    throw data_error("{}: cannot read ({})", path.string(), error.message());
  }
  if (!fs::exists(status)) {
    throw data_error("{}: file not found", path.string());
  }
  if (!fs::is_regular_file(status)) {
    throw data_error("{}: not a regular file", path.string());
  }
  const auto file_bytes = static_cast<int64_t>(fs::file_size(path, error));
  if (error) {
    throw data_error("{}: cannot read its size ({})", path.string(), error.message());
  }
  if (file_bytes == 0) {
    throw data_error("{}: file is empty; expected an IDX header", path.string());
  }
  return file_bytes;
}

/// Reads the magic number and the dimension sizes into `array`; returns the number of data
/// bytes they declare.
int64_t read_header(ByteSource& source, const fs::path& path, IdxArray& array) {
  std::array<uint8_t, 4> magic_bytes{};
  if (source.read(magic_bytes.data(), 4) < 4) {
    throw data_error("{}: truncated IDX header; expected at least 4 bytes", path.string());
  }
  array.magic = big_endian_u32(magic_bytes.data());
  const int dims = magic_bytes[3];
  if (magic_bytes[0] != 0 || magic_bytes[1] != 0 || magic_bytes[2] != kUnsignedByteType ||
      dims < 1 || dims > kMaxIdxDims) {
    throw data_error(
        "{}: wrong magic number 0x{:08x}; expected an IDX file of unsigned bytes "
        "(0x00000801 labels or 0x00000803 images)",
        path.string(), array.magic);
  }
  std::vector<uint8_t> header(static_cast<size_t>(4 * dims));
  if (source.read(header.data(), 4 * dims) < 4 * dims) {
    throw data_error("{}: truncated IDX header; expected {} dimension sizes", path.string(), dims);
  }
  // Each dimension is below 2^32 and there are at most 4, so use checked multiplication.
  int64_t declared = 1;
  for (int d = 0; d < dims; ++d) {
    const int64_t size = big_endian_u32(header.data() + 4 * d);
    if (size == 0) {
      throw data_error("{}: dimension {} has size 0; expected a non-empty array", path.string(), d);
    }
    if (__builtin_mul_overflow(declared, size, &declared)) {
      throw data_error("{}: header declares an impossibly large array", path.string());
    }
    array.dims.push_back(size);
  }
  return declared;
}

/// Rejects a header that declares more data than a file of `file_bytes` can hold.
void check_capacity(const fs::path& path, int64_t declared, int64_t file_bytes,
                    int64_t header_bytes, bool compressed) {
  const int64_t capacity =
      compressed ? file_bytes * kMaxDeflateRatio : std::max<int64_t>(0, file_bytes - header_bytes);
  if (declared <= capacity) return;
  if (compressed) {
    throw data_error("{}: header declares {} bytes of data, more than a {}-byte gzip file can hold",
                     path.string(), declared, file_bytes);
  }
  throw data_error("{}: truncated: header declares {} bytes of data but the file holds {}",
                   path.string(), declared, capacity);
}

/// Rejects `bytes` bytes that `limit` cannot hold; without a limit, what is available less a
/// tenth and 64 MiB for the rest of the process (LibTorch, the models, the engines' buffers).
void check_fits(const fs::path& path, int64_t bytes, const char* what,
                std::optional<int64_t> limit) {
  if (limit) {
    if (bytes <= *limit) return;
    throw data_error(
        "{}: {} {}, more than the {} bytes of memory available; expected data this machine "
        "can hold",
        path.string(), bytes, what, *limit);
  }
  const auto available = available_memory();
  if (!available) return;
  const int64_t room = std::max<int64_t>(0, *available - *available / 10 - (int64_t{64} << 20));
  if (bytes <= room) return;
  throw data_error(
      "{}: {} {}, more than the {} bytes of memory available for data ({} bytes available, "
      "less a tenth and 64 MiB for the rest of the process); expected data this machine can "
      "hold",
      path.string(), bytes, what, room, *available);
}

#if L2SWEEP_HAVE_LIBDEFLATE
/// The gzip file at `path` (`file_bytes` of it; an IDX header of `header_bytes` that declares
/// `declared` data bytes) decompressed whole by libdeflate, in about half of zlib's time, with
/// the data bytes left in `array.values`. Returns false, and leaves `array.values` empty,
/// wherever anything is off (not one gzip member, another size, a bad checksum): read_payload
/// then reads the file through zlib, whose errors name what is wrong.
bool inflate_whole(const fs::path& path, int64_t file_bytes, int64_t header_bytes, int64_t declared,
                   IdxArray& array) {
  constexpr int64_t kGzipFraming = 18;  // the smallest gzip header and trailer
  const int64_t total = header_bytes + declared;
  std::vector<uint8_t> compressed(static_cast<size_t>(file_bytes));
  {
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(compressed.data()), file_bytes);
    if (in.gcount() != file_bytes || file_bytes < kGzipFraming) return false;
  }
  // A header CRC (FHCRC) libdeflate would skip unchecked; zlib checks it.
  constexpr uint8_t kHeaderCrcFlag = 0x02;
  if ((compressed[3] & kHeaderCrcFlag) != 0) return false;
  // The trailer's size of the uncompressed data, modulo 2^32: a quick refusal before decoding.
  const uint8_t* size = compressed.data() + file_bytes - 4;
  const uint32_t trailer = uint32_t{size[0]} | (uint32_t{size[1]} << 8) |
                           (uint32_t{size[2]} << 16) | (uint32_t{size[3]} << 24);
  if (trailer != static_cast<uint32_t>(total)) return false;
  const std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> decompressor(
      libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
  if (decompressor == nullptr) return false;
  array.values.resize(static_cast<size_t>(total));
  size_t used = 0, made = 0;
  const libdeflate_result result =
      libdeflate_gzip_decompress_ex(decompressor.get(), compressed.data(), compressed.size(),
                                    array.values.data(), array.values.size(), &used, &made);
  if (result != LIBDEFLATE_SUCCESS || used != compressed.size() ||
      made != static_cast<size_t>(total)) {
    array.values = {};
    return false;
  }
  array.values.erase(array.values.begin(), array.values.begin() + header_bytes);
  return true;
}
#endif

/// Reads exactly `declared` data bytes and checks that nothing follows them.
void read_payload(ByteSource& source, const fs::path& path, int64_t declared, int64_t file_bytes,
                  IdxArray& array) {
  // The declared size is reserved (address space only: check_capacity and check_fits have
  // bounded it), and the bytes grow as data actually arrives, so a gzip file that lies about its
  // size costs no memory, and a true one is never copied to a larger buffer.
  array.values.reserve(static_cast<size_t>(declared));
  int64_t received = 0;
  while (received < declared) {
    const int64_t chunk = std::min(declared - received, kReadChunk);
    array.values.resize(static_cast<size_t>(received + chunk));
    const int64_t got = source.read(array.values.data() + received, chunk);
    received += got;
    if (got < chunk) {
      throw data_error("{}: truncated: header declares {} bytes of data but the file holds {}",
                       path.string(), declared, received);
    }
  }
  uint8_t extra = 0;
  if (source.read(&extra, 1) != 0) {
    throw data_error("{}: more data than the header declares ({} bytes); expected exactly {}",
                     path.string(), file_bytes, declared);
  }
}

}  // namespace

/// The data bytes the IDX file at `path` declares (its header only is read).
int64_t declared_bytes(const fs::path& path) {
  const int64_t file_bytes = checked_file_size(path);
  ByteSource source(path);
  IdxArray array;
  const int64_t declared = read_header(source, path, array);
  check_capacity(path, declared, file_bytes, 4 + 4 * static_cast<int64_t>(array.dims.size()),
                 is_gzip(path));
  return declared;
}

IdxArray read_idx(const fs::path& path, std::optional<int64_t> memory_limit) {
  const int64_t file_bytes = checked_file_size(path);
  const bool compressed = is_gzip(path);
  ByteSource source(path);
  IdxArray array;
  const int64_t declared = read_header(source, path, array);
  const int64_t header_bytes = 4 + 4 * static_cast<int64_t>(array.dims.size());
  check_capacity(path, declared, file_bytes, header_bytes, compressed);
  check_fits(path, declared, "bytes of data", memory_limit);
#if L2SWEEP_HAVE_LIBDEFLATE
  if (compressed && inflate_whole(path, file_bytes, header_bytes, declared, array)) return array;
#endif
  read_payload(source, path, declared, file_bytes, array);
  return array;
}

torch::Tensor pixels(const torch::Tensor& images) {
  if (images.scalar_type() != torch::kUInt8) return images;
  // Keras semantics: scale to [0, 1] by /255 and nothing else.
  return images.to(torch::kFloat32).div_(255.0);
}

Split Split::to(const torch::Device& device) const {
  return {images.to(device), labels.to(device)};
}

Datasets Datasets::to(const torch::Device& device) const {
  Datasets moved = *this;
  moved.train = train.to(device);
  moved.val = val.to(device);
  moved.test = test.to(device);
  return moved;
}

int64_t DatasetInfo::input_features() const {
  int64_t features = 1;
  for (const int64_t size : image_shape) {
    features *= size;
  }
  return features;
}

int64_t Datasets::input_features() const { return info().input_features(); }

DatasetInfo Datasets::info() const {
  return {train.size(), val.size(), test.size(), num_classes, image_shape, files, fingerprint};
}

namespace {

/// Whether `path` exists; a data Error naming it when the file system cannot tell.
bool path_exists(const fs::path& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error && error != std::errc::no_such_file_or_directory &&
      error != std::errc::not_a_directory) {
    throw data_error("{}: cannot read ({})", path.string(), error.message());
  }
  return fs::exists(status);
}

}  // namespace

fs::path keras_data_dir() {
  if (const char* keras_home = std::getenv("KERAS_HOME"); keras_home && *keras_home) {
    return fs::path(keras_home) / "datasets/fashion-mnist";
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return {};
  return fs::path(home) / ".keras/datasets/fashion-mnist";
}

bool has_idx_files(const fs::path& dir) {
  std::error_code error;
  for (const char* name : kIdxFileNames) {
    if (!fs::is_regular_file(dir / name, error) &&
        !fs::is_regular_file(dir / (std::string(name) + ".gz"), error)) {
      return false;
    }
  }
  return true;
}

namespace {

/// The first subfolder of `dir` (depth 1, then 2, in name order) that has the four files.
std::optional<fs::path> subfolder_with_idx_files(const fs::path& dir) {
  std::vector<fs::path> level = {dir};
  for (int depth = 1; depth <= 2; ++depth) {
    std::vector<fs::path> next;
    for (const fs::path& folder : level) {
      std::error_code error;
      for (fs::directory_iterator it(folder, error), end; !error && it != end;
           it.increment(error)) {
        if (it->is_directory(error)) next.push_back(it->path());
      }
    }
    std::sort(next.begin(), next.end());
    for (const fs::path& folder : next) {
      if (has_idx_files(folder)) return folder;
    }
    level = std::move(next);
  }
  return std::nullopt;
}

/// "~/..." for a path under $HOME, as people type it.
std::string display(const fs::path& path) {
  const char* home = std::getenv("HOME");
  const std::string text = path.string();
  if (home != nullptr && *home != '\0' && text.rfind(std::string(home) + "/", 0) == 0) {
    return "~" + text.substr(std::string(home).size());
  }
  return text;
}

}  // namespace

DataFolder locate_data(const std::string& dir, bool given) {
  if (has_idx_files(dir)) return {dir, ""};
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_directory(dir, error)) {
    throw data_error(
        "--data-dir {}: a file, not a folder; expected the folder of the four "
        "MNIST-style IDX files",
        dir);
  }
  const fs::path keras = keras_data_dir();
  const bool keras_has_them = !keras.empty() && has_idx_files(keras);
  if (!given && keras_has_them) {
    return {keras.string(),
            fmt::format("data: {} has no MNIST-style IDX files; using Keras' copy in {}", dir,
                        display(keras))};
  }
  if (const auto inside = subfolder_with_idx_files(dir)) {
    throw data_error("--data-dir {}: the IDX files are in its subfolder {}; expected --data-dir {}",
                     dir, inside->string(), inside->string());
  }
  if (!given && !fs::exists(dir, error)) {
    throw data_error(
        "no data: neither {} nor Keras' copy in {} has the four MNIST-style IDX files; expected "
        "--data-dir DIR (Debian: apt-get install dataset-fashion-mnist)",
        dir, keras.empty() ? std::string("~/.keras/datasets/fashion-mnist") : display(keras));
  }
  if (given && keras_has_them) {
    throw data_error(
        "--data-dir {}: no MNIST-style IDX files there; Keras' copy of Fashion-MNIST is in {}: "
        "expected --data-dir {}",
        dir, display(keras), keras.string());
  }
  return {dir, ""};
}

fs::path find_idx_file(const fs::path& dir, const std::string& name) {
  const fs::path raw = dir / name;
  if (path_exists(raw)) {
    return raw;
  }
  const fs::path compressed = dir / (name + ".gz");
  if (path_exists(compressed)) {
    return compressed;
  }
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    throw data_error("--data-dir {}: folder not found; expected the four MNIST-style IDX files",
                     dir.string());
  }
  throw data_error("{}: file not found (nor {}.gz)", raw.string(), name);
}

namespace {

struct LabelledArrays {
  IdxArray images;
  IdxArray labels;
};

/// CRC-32C of `arrays`' dimensions and bytes, in order.
std::string fingerprint_of(std::initializer_list<const IdxArray*> arrays) {
  uint32_t crc = 0;
  for (const IdxArray* array : arrays) {
    for (const int64_t dim : array->dims) {
      const std::string text = std::to_string(dim) + ",";
      crc = crc32c(text, crc);
    }
    crc = crc32c(
        std::string_view(reinterpret_cast<const char*>(array->values.data()), array->values.size()),
        crc);
  }
  return fmt::format("crc32c:{:08x}", crc);
}

/// The images and labels at two paths, read in that order; `loading` follows the file being
/// read (load_datasets has checked that all of them fit).
LabelledArrays read_pair(const fs::path& images_path, const fs::path& labels_path,
                         const fs::path*& loading) {
  LabelledArrays pair;
  loading = &images_path;
  pair.images = read_idx(images_path, std::numeric_limits<int64_t>::max());
  loading = &labels_path;
  pair.labels = read_idx(labels_path, std::numeric_limits<int64_t>::max());
  if (pair.images.magic != kIdxImagesMagic) {
    throw data_error("{}: magic number 0x{:08x}; expected 0x{:08x} (3-dimensional IDX images)",
                     images_path.string(), pair.images.magic, kIdxImagesMagic);
  }
  if (pair.labels.magic != kIdxLabelsMagic) {
    throw data_error("{}: magic number 0x{:08x}; expected 0x{:08x} (1-dimensional IDX labels)",
                     labels_path.string(), pair.labels.magic, kIdxLabelsMagic);
  }
  if (pair.images.dims[0] != pair.labels.dims[0]) {
    throw data_error("{}: holds {} labels but {} holds {} images; expected the same count",
                     labels_path.string(), pair.labels.dims[0], images_path.string(),
                     pair.images.dims[0]);
  }
  return pair;
}

/// Number of classes: the training labels must be exactly 0..K-1, each present.
int64_t count_classes(const IdxArray& labels, const fs::path& path) {
  std::array<int64_t, 256> counts{};
  for (const uint8_t label : labels.values) {
    ++counts[label];
  }
  int64_t classes = 0;
  while (classes < 256 && counts[classes] > 0) {
    ++classes;
  }
  for (size_t i = 0; i < labels.values.size(); ++i) {
    if (labels.values[i] >= classes) {
      throw data_error(
          "{}: label {} at index {} is out of range; expected labels 0..K-1 with each present, "
          "but label {} never occurs",
          path.string(), labels.values[i], i, classes);
    }
  }
  return classes;
}

void check_labels_below(const IdxArray& labels, int64_t classes, const fs::path& path) {
  for (size_t i = 0; i < labels.values.size(); ++i) {
    if (labels.values[i] >= classes) {
      throw data_error("{}: label {} at index {} is out of range; expected 0..{}", path.string(),
                       labels.values[i], i, classes - 1);
    }
  }
}

/// `images` (moved from) as one uint8 tensor that owns their bytes: the splits are views of it,
/// so the images are never copied (bytes; pixels() scales the rows an engine uses).
torch::Tensor images_tensor(IdxArray&& images) {
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::move(images.values));
  uint8_t* data = bytes->data();
  return torch::from_blob(
      data, images.dims, [bytes](void*) mutable { bytes.reset(); }, torch::kUInt8);
}

torch::Tensor labels_tensor(const IdxArray& labels, int64_t begin, int64_t end) {
  const auto all =
      torch::from_blob(const_cast<uint8_t*>(labels.values.data()), {labels.dims[0]}, torch::kUInt8);
  return all.slice(0, begin, end).to(torch::kInt64);
}

/// load_datasets once the data is known to fit: `loading` follows the file being read.
Datasets load_checked(const DataOptions& options, const std::vector<fs::path>& paths,
                      const fs::path*& loading) {
  LabelledArrays train = read_pair(paths[0], paths[1], loading);
  LabelledArrays test = read_pair(paths[2], paths[3], loading);
  loading = &paths[0];  // the labels' 64-bit copies, the splits' views
  // The magic numbers guarantee 3-dimensional images and 1-dimensional labels.
  const auto& shape = train.images.dims;
  const auto& test_shape = test.images.dims;
  if (test_shape[1] != shape[1] || test_shape[2] != shape[2]) {
    throw data_error("{}: images are {}x{}; expected {}x{} like {}", paths[2].string(),
                     test_shape[1], test_shape[2], shape[1], shape[2], paths[0].string());
  }

  Datasets datasets;
  datasets.num_classes = count_classes(train.labels, paths[1]);
  check_labels_below(test.labels, datasets.num_classes, paths[3]);
  datasets.image_shape = {shape[1], shape[2]};

  const int64_t total = shape[0];
  if (options.val_size >= total) {
    throw usage_error("--val-size {}: expected fewer than the {} examples in {}", options.val_size,
                      total, paths[0].string());
  }
  const int64_t available = total - options.val_size;
  const int64_t train_count = options.train_size.value_or(available);
  if (train_count > available) {
    throw usage_error(
        "--train-size {}: expected at most {} ({} training examples minus --val-size {})",
        train_count, available, total, options.val_size);
  }
  for (const auto& path : paths) {
    datasets.files.push_back(path.string());
  }
  datasets.fingerprint = fingerprint_of({&train.images, &train.labels, &test.images, &test.labels});
  datasets.train.labels = labels_tensor(train.labels, 0, train_count);
  datasets.val.labels = labels_tensor(train.labels, available, total);
  datasets.test.labels = labels_tensor(test.labels, 0, test.labels.dims[0]);
  const torch::Tensor train_images = images_tensor(std::move(train.images));
  datasets.train.images = train_images.slice(0, 0, train_count);
  datasets.val.images = train_images.slice(0, available, total);
  datasets.test.images = images_tensor(std::move(test.images));
  return datasets;
}

}  // namespace

Datasets load_datasets(const DataOptions& options, std::optional<int64_t> memory_limit) {
  std::vector<fs::path> paths;
  for (const char* name : kIdxFileNames) {
    paths.push_back(find_idx_file(options.dir, name));
  }
  // Before reading anything: loading takes every file's bytes as read (the splits are views of
  // the images), the labels again as 64-bit integers (9 bytes a label in all), and, with
  // libdeflate, the largest gzip file's own bytes while it is decoded whole.
  int64_t needed = 0, largest_gzip = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const int64_t declared = declared_bytes(paths[i]);
    int64_t bytes = 0;
    if (__builtin_mul_overflow(declared, i % 2 == 0 ? 1 : 9, &bytes) ||
        __builtin_add_overflow(needed, bytes, &needed)) {
      needed = std::numeric_limits<int64_t>::max();
    }
#if L2SWEEP_HAVE_LIBDEFLATE
    if (is_gzip(paths[i])) largest_gzip = std::max(largest_gzip, checked_file_size(paths[i]));
#endif
  }
  if (__builtin_add_overflow(needed, largest_gzip, &needed)) {
    needed = std::numeric_limits<int64_t>::max();
  }
  check_fits(paths[0], needed,
             "bytes of memory to load the four files (the labels also as 64-bit integers, and "
             "a gzip file's own bytes while it is decoded)",
             memory_limit);
  // An allocation that fails anyway (memory taken meanwhile) names what was being loaded.
  const fs::path* loading = &paths[0];
  try {
    return load_checked(options, paths, loading);
  } catch (const std::bad_alloc&) {
    throw data_error(
        "{}: out of memory while loading it ({} bytes needed for the four files); "
        "expected data this machine can hold",
        loading->string(), needed);
  } catch (const c10::Error& e) {
    if (std::string(e.what()).find("alloc") == std::string::npos) throw;
    throw data_error(
        "{}: out of memory while loading it ({} bytes needed for the four files); "
        "expected data this machine can hold",
        loading->string(), needed);
  }
}

}  // namespace l2sweep
