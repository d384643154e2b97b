#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace l2sweep {

/// IDX magic numbers of the MNIST family: unsigned bytes (0x08) with 3 or 1 dimensions.
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

/// The content of one IDX file of unsigned bytes.
struct IdxArray {
  uint32_t magic = 0;
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;  ///< row-major, product(dims) bytes
};

/// Reads an IDX file of unsigned bytes, raw or gzip-compressed (told apart by content).
/// Every problem (missing, empty, truncated, corrupt gzip, bad magic, a header that declares
/// more data than the file can hold or than `memory_limit` bytes, trailing bytes) throws a
/// data Error naming the file; sizes are checked before anything is allocated.
IdxArray read_idx(const std::filesystem::path& path,
                  std::optional<int64_t> memory_limit = std::nullopt);

/// Images and labels of one split, as tensors. The images stay bytes, as the files hold them
/// (a quarter of the memory of floats); engines turn the rows they use into the model's input
/// with pixels().
struct Split {
  torch::Tensor images;  ///< uint8 [N, rows, cols] as read (or float32 already scaled: tests)
  torch::Tensor labels;  ///< int64 [N]

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  Split to(const torch::Device& device) const;
};

/// `images` as the model's input: float32 pixel / 255, Keras' only scaling, for uint8 images;
/// float32 images (already scaled) unchanged.
torch::Tensor pixels(const torch::Tensor& images);

/// Which examples to load and how to split them.
struct DataOptions {
  std::filesystem::path dir;
  int64_t val_size = 10000;           ///< the last val_size training examples
  std::optional<int64_t> train_size;  ///< first N of the rest; all when empty
};

/// What was loaded, without the data: what summary.json and report.md say about it.
struct DatasetInfo {
  int64_t train_examples = 0;
  int64_t val_examples = 0;
  int64_t test_examples = 0;
  int64_t num_classes = 0;
  std::vector<int64_t> image_shape;  ///< {rows, cols}
  std::vector<std::string> files;    ///< the four files read, in the order of kIdxFileNames
  /// "crc32c:<8 hex digits>" of every dimension and byte of the four files as decoded: a
  /// resumed or joined sweep must train on the data it started with.
  std::string fingerprint;

  /// Pixels per image: the model's input features.
  int64_t input_features() const;
};

/// The three splits of an MNIST-family dataset, with the shapes read from its files.
struct Datasets {
  Split train;
  Split val;
  Split test;
  int64_t num_classes = 0;
  std::vector<int64_t> image_shape;  ///< {rows, cols}
  std::vector<std::string> files;    ///< the four files read, in the order of kIdxFileNames
  std::string fingerprint;           ///< see DatasetInfo::fingerprint

  int64_t input_features() const;
  DatasetInfo info() const;
  /// The three splits copied to `device` (the rest unchanged).
  Datasets to(const torch::Device& device) const;
};

/// The four files of an MNIST-family dataset.
inline constexpr const char* kIdxFileNames[] = {"train-images-idx3-ubyte",
                                                "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                                "t10k-labels-idx1-ubyte"};

/// `dir/name` if it exists, else `dir/name.gz`; a data Error naming both when neither exists,
/// and naming the path when the file system cannot tell (a symlink loop, a name too long).
std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& name);

/// Where Keras keeps Fashion-MNIST once `keras.datasets.fashion_mnist.load_data()` has run:
/// ~/.keras/datasets/fashion-mnist (or $KERAS_HOME/datasets/fashion-mnist), the same four
/// files gzipped; empty when there is no home folder.
std::filesystem::path keras_data_dir();

/// Whether `dir` holds all four kIdxFileNames, each raw or .gz.
bool has_idx_files(const std::filesystem::path& dir);

/// The data folder a sweep reads, and why when it is not the one asked for.
struct DataFolder {
  std::string path;
  std::string note;  ///< one line for the console when another folder was used; else empty
};

/// The folder of the four IDX files for `dir` (--data-dir, or the default when `given` is
/// false). Without --data-dir, a default folder without the files gives way to Keras' copy
/// (keras_data_dir()) when that has them, with a note. A folder without the files is a data
/// Error when a subfolder (two levels deep at most) or, for a --data-dir, Keras' copy has
/// them: the message names that folder. Otherwise `dir` itself, whose files load_datasets
/// then reports on.
DataFolder locate_data(const std::string& dir, bool given);

/// Loads train/validation/test splits. The class count is the number of distinct training
/// labels, which must be 0..K-1; a label outside that range anywhere is a data Error.
/// A --val-size or --train-size that the files cannot satisfy is a usage Error.
/// `memory_limit`: the bytes the data may take in memory (as read, then as the splits' copies);
/// by default what the machine has available (available_memory()). Larger data is a data
/// Error naming the file and the size, before it is read.
Datasets load_datasets(const DataOptions& options,
                       std::optional<int64_t> memory_limit = std::nullopt);

}  // namespace l2sweep
