#include "l2sweep/data/data.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <iostream>

#include "l2sweep/base/error.h"
#include "test_support.h"

namespace l2sweep {
namespace {

using testing::gzip_bytes;
using testing::idx_bytes;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

std::vector<uint8_t> ramp(size_t count) {
  std::vector<uint8_t> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = static_cast<uint8_t>(i * 7);
  return values;
}

TEST(IdxReader, RoundTripsRawFiles) {
  TempDir dir;
  const auto values = ramp(4 * 3 * 2);
  write_bytes(dir / "images", idx_bytes(0x803, {4, 3, 2}, values));
  const IdxArray array = read_idx(dir / "images");
  EXPECT_EQ(array.magic, 0x803u);
  EXPECT_EQ(array.dims, (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(array.values, values);
}

TEST(IdxReader, RoundTripsGzipFilesWhateverTheirName) {
  TempDir dir;
  const auto values = ramp(5);
  write_bytes(dir / "labels.gz", gzip_bytes(idx_bytes(0x801, {5}, values)));
  write_bytes(dir / "labels-without-suffix", gzip_bytes(idx_bytes(0x801, {5}, values)));
  EXPECT_EQ(read_idx(dir / "labels.gz").values, values);
  EXPECT_EQ(read_idx(dir / "labels-without-suffix").values, values);
}

TEST(IdxReader, ReadsAGzipFileOfSeveralMembers) {
  // libdeflate (where built with it) decodes one member whole; anything else goes through zlib,
  // which reads concatenated members as one stream and names what is wrong.
  TempDir dir;
  const auto values = ramp(24000);
  const auto whole = idx_bytes(0x803, {40, 30, 20}, values);
  const std::vector<uint8_t> first(whole.begin(), whole.begin() + 1000);
  const std::vector<uint8_t> rest(whole.begin() + 1000, whole.end());
  auto members = gzip_bytes(first);
  const auto second = gzip_bytes(rest);
  members.insert(members.end(), second.begin(), second.end());
  write_bytes(dir / "members.gz", members);
  EXPECT_EQ(read_idx(dir / "members.gz").values, values);
}

TEST(IdxReader, ChecksAGzipHeaderCrc) {
  // FLG.FHCRC set, with the header's CRC-16 after the 10-byte header: zlib checks it (libdeflate
  // would not, so such a file goes through zlib).
  TempDir dir;
  const auto plain = gzip_bytes(idx_bytes(0x801, {5}, ramp(5)));
  std::vector<uint8_t> good(plain.begin(), plain.begin() + 10);
  good[3] |= 0x02;
  const uint32_t crc = crc32(0L, good.data(), 10) & 0xffff;
  good.push_back(static_cast<uint8_t>(crc & 0xff));
  good.push_back(static_cast<uint8_t>(crc >> 8));
  good.insert(good.end(), plain.begin() + 10, plain.end());
  write_bytes(dir / "hcrc.gz", good);
  EXPECT_EQ(read_idx(dir / "hcrc.gz").values, ramp(5));
  good[10] ^= 0xff;
  write_bytes(dir / "bad-hcrc.gz", good);
  EXPECT_THROW_WITH(read_idx(dir / "bad-hcrc.gz"), Error, "bad-hcrc.gz: corrupt gzip data");
}

TEST(IdxReader, RejectsMissingFile) {
  TempDir dir;
  EXPECT_THROW_WITH(read_idx(dir / "nope"), Error, "nope: file not found");
}

TEST(IdxReader, RejectsEmptyFile) {
  TempDir dir;
  write_bytes(dir / "empty", {});
  EXPECT_THROW_WITH(read_idx(dir / "empty"), Error, "empty: file is empty");
}

TEST(IdxReader, RejectsTruncatedHeader) {
  TempDir dir;
  auto bytes = idx_bytes(0x803, {4, 3, 2}, ramp(24));
  bytes.resize(9);
  write_bytes(dir / "short", bytes);
  EXPECT_THROW_WITH(read_idx(dir / "short"), Error, "truncated IDX header");
}

TEST(IdxReader, RejectsTruncatedRawData) {
  TempDir dir;
  auto bytes = idx_bytes(0x803, {4, 3, 2}, ramp(24));
  bytes.resize(bytes.size() - 5);
  write_bytes(dir / "cut", bytes);
  EXPECT_THROW_WITH(read_idx(dir / "cut"), Error,
                    "truncated: header declares 24 bytes of data but the file holds 19");
}

TEST(IdxReader, RejectsTruncatedGzipStream) {
  TempDir dir;
  auto bytes = gzip_bytes(idx_bytes(0x803, {40, 30, 20}, ramp(24000)));
  bytes.resize(bytes.size() / 2);
  write_bytes(dir / "cut.gz", bytes);
  try {
    read_idx(dir / "cut.gz");
    FAIL() << "expected a data error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    const std::string message = e.what();
    EXPECT_NE(message.find("cut.gz: "), std::string::npos) << message;
    EXPECT_TRUE(message.find("truncated") != std::string::npos ||
                message.find("corrupt gzip") != std::string::npos)
        << message;
  }
}

TEST(IdxReader, RejectsAGzipFileCutInItsTrailer) {
  // Every data byte is there, but the checksum and size that end the stream are cut short: zlib
  // alone would return the bytes as if whole, unchecked.
  TempDir dir;
  const auto whole = gzip_bytes(idx_bytes(0x801, {5}, ramp(5)));
  for (const size_t cut : {1, 4, 8}) {
    write_bytes(dir / "cut.gz", std::vector<uint8_t>(whole.begin(), whole.end() - cut));
    EXPECT_THROW_WITH(read_idx(dir / "cut.gz"), Error,
                      "cut.gz: truncated: the gzip data ends after")
        << cut << " bytes cut";
  }
}

TEST(IdxReader, RejectsCorruptGzipData) {
  TempDir dir;
  auto bytes = gzip_bytes(idx_bytes(0x803, {40, 30, 20}, ramp(24000)));
  for (size_t i = 20; i < bytes.size() - 8; i += 3) bytes[i] ^= 0x5a;
  write_bytes(dir / "bad.gz", bytes);
  EXPECT_THROW_WITH(read_idx(dir / "bad.gz"), Error, "bad.gz: corrupt gzip data");
}

TEST(IdxReader, RejectsGzipWithBadChecksum) {
  TempDir dir;
  auto bytes = gzip_bytes(idx_bytes(0x801, {5}, ramp(5)));
  bytes[bytes.size() - 8] ^= 0xff;  // the CRC-32 in the gzip trailer
  write_bytes(dir / "crc.gz", bytes);
  EXPECT_THROW_WITH(read_idx(dir / "crc.gz"), Error, "crc.gz: corrupt gzip data");
}

TEST(IdxReader, RejectsWrongMagicNumber) {
  TempDir dir;
  write_bytes(dir / "text", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  EXPECT_THROW_WITH(read_idx(dir / "text"), Error, "text: wrong magic number 0x68656c6c");
  write_bytes(dir / "floats", idx_bytes(0x0D03, {1, 1, 1}, {0, 0, 0, 0}));
  EXPECT_THROW_WITH(read_idx(dir / "floats"), Error, "wrong magic number 0x00000d03");
}

TEST(IdxReader, RejectsHeaderDeclaringMoreThanARawFileHolds) {
  TempDir dir;
  // Petabytes declared: rejected from the header, before any allocation.
  write_bytes(dir / "huge", idx_bytes(0x803, {0xFFFFFFFF, 1000, 1000}, ramp(100)));
  EXPECT_THROW_WITH(read_idx(dir / "huge"), Error,
                    "huge: truncated: header declares 4294967295000000 bytes of data but the file "
                    "holds 100");
}

TEST(IdxReader, RejectsAnHonestHeaderTooLargeForTheMemory) {
  TempDir dir;
  write_bytes(dir / "images", idx_bytes(0x803, {10, 10, 10}, ramp(1000)));
  EXPECT_THROW_WITH(read_idx(dir / "images", /*memory_limit=*/999), Error,
                    "images: 1000 bytes of data, more than the 999 bytes of memory available");
  EXPECT_NO_THROW(read_idx(dir / "images", /*memory_limit=*/1000));
}

TEST(IdxReader, RejectsHeaderDeclaringMoreThanAGzipFileCanHold) {
  TempDir dir;
  write_bytes(dir / "huge.gz", gzip_bytes(idx_bytes(0x803, {60000, 2800, 2800}, ramp(100))));
  EXPECT_THROW_WITH(read_idx(dir / "huge.gz"), Error, "more than a");
}

TEST(IdxReader, RejectsGzipHeaderThatLiesWithinTheDeflateLimit) {
  TempDir dir;
  // Plausible for the compressed size, but the stream ends long before: no huge allocation.
  write_bytes(dir / "lie.gz", gzip_bytes(idx_bytes(0x803, {20, 28, 28}, ramp(100))));
  EXPECT_THROW_WITH(read_idx(dir / "lie.gz"), Error,
                    "truncated: header declares 15680 bytes of data but the file holds 100");
}

TEST(IdxReader, RejectsOverflowingDimensions) {
  TempDir dir;
  write_bytes(dir / "overflow",
              idx_bytes(0x804, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  EXPECT_THROW_WITH(read_idx(dir / "overflow"), Error, "impossibly large");
}

TEST(IdxReader, RejectsTrailingBytes) {
  TempDir dir;
  write_bytes(dir / "long", idx_bytes(0x801, {3}, ramp(5)));
  EXPECT_THROW_WITH(read_idx(dir / "long"), Error, "more data than the header declares");
}

TEST(IdxReader, RejectsZeroSizedDimension) {
  TempDir dir;
  write_bytes(dir / "zero", idx_bytes(0x803, {0, 28, 28}, {}));
  EXPECT_THROW_WITH(read_idx(dir / "zero"), Error, "dimension 0 has size 0");
}

// ---- load_datasets: splits, shapes and cross-file checks ----

class DatasetFolder : public ::testing::Test {
 protected:
  void write(const testing::SyntheticData& data) {
    testing::write_synthetic_dataset(dir_.path(), data);
  }
  DataOptions options(int64_t val_size) const { return {dir_.path(), val_size, std::nullopt}; }
  TempDir dir_;
};

TEST_F(DatasetFolder, TakesShapeAndClassCountFromTheFiles) {
  write({/*train=*/40, /*test=*/12, /*rows=*/6, /*cols=*/5, /*classes=*/4, /*gzip=*/false});
  const Datasets data = load_datasets(options(10));
  EXPECT_EQ(data.image_shape, (std::vector<int64_t>{6, 5}));
  EXPECT_EQ(data.input_features(), 30);
  EXPECT_EQ(data.num_classes, 4);
  EXPECT_EQ(data.train.size(), 30);
  EXPECT_EQ(data.val.size(), 10);
  EXPECT_EQ(data.test.size(), 12);
  EXPECT_EQ(data.train.images.sizes(), (std::vector<int64_t>{30, 6, 5}));
  EXPECT_EQ(data.train.images.scalar_type(), torch::kUInt8);  // bytes, as the files hold them
  EXPECT_EQ(pixels(data.train.images).scalar_type(), torch::kFloat32);
  EXPECT_EQ(data.train.labels.scalar_type(), torch::kInt64);
}

TEST_F(DatasetFolder, ScalesPixelsBy255AndHoldsOutTheLastExamples) {
  write({/*train=*/40, /*test=*/12, /*rows=*/6, /*cols=*/5, /*classes=*/4, /*gzip=*/true});
  const IdxArray raw_images = read_idx(dir_ / "train-images-idx3-ubyte.gz");
  const IdxArray raw_labels = read_idx(dir_ / "train-labels-idx1-ubyte.gz");
  const Datasets data = load_datasets({dir_.path(), 10, int64_t{7}});
  ASSERT_EQ(data.train.size(), 7);  // --train-size takes the first examples
  ASSERT_EQ(data.val.size(), 10);   // --val-size the last ones
  const torch::Tensor train = pixels(data.train.images);
  const torch::Tensor val = pixels(data.val.images);
  for (int64_t pixel : {0, 13, 29}) {
    EXPECT_FLOAT_EQ(train[0].flatten()[pixel].item<float>(),
                    static_cast<float>(raw_images.values[static_cast<size_t>(pixel)]) / 255.0f);
    const size_t first_val = static_cast<size_t>(30 * 30 + pixel);
    EXPECT_FLOAT_EQ(val[0].flatten()[pixel].item<float>(),
                    static_cast<float>(raw_images.values[first_val]) / 255.0f);
  }
  EXPECT_EQ(data.val.labels[9].item<int64_t>(), raw_labels.values[39]);
  EXPECT_GE(train.min().item<float>(), 0.0f);
  EXPECT_LE(train.max().item<float>(), 1.0f);
}

TEST_F(DatasetFolder, FingerprintsEveryByteOfTheDataWhateverTheFilesCompression) {
  write({/*train=*/40, /*test=*/12, /*rows=*/6, /*cols=*/5, /*classes=*/4, /*gzip=*/true});
  const std::string fingerprint = load_datasets(options(10)).fingerprint;
  EXPECT_EQ(fingerprint.rfind("crc32c:", 0), 0u) << fingerprint;
  EXPECT_EQ(fingerprint.size(), 15u);
  EXPECT_EQ(load_datasets({dir_.path(), 5, int64_t{3}}).fingerprint, fingerprint);  // same files
  // The same arrays uncompressed: the same data.
  write({/*train=*/40, /*test=*/12, /*rows=*/6, /*cols=*/5, /*classes=*/4, /*gzip=*/false});
  for (const char* name : kIdxFileNames)
    std::filesystem::remove(dir_ / (std::string(name) + ".gz"));
  EXPECT_EQ(load_datasets(options(10)).fingerprint, fingerprint);
  // One test label changed: other data.
  IdxArray labels = read_idx(dir_ / "t10k-labels-idx1-ubyte");
  labels.values[11] = static_cast<uint8_t>((labels.values[11] + 1) % 4);
  write_bytes(dir_ / "t10k-labels-idx1-ubyte",
              idx_bytes(0x801, {static_cast<uint32_t>(labels.dims[0])}, labels.values));
  EXPECT_NE(load_datasets(options(10)).fingerprint, fingerprint);
}

TEST_F(DatasetFolder, PrefersRawFilesAndFallsBackToGzip) {
  write({});
  EXPECT_EQ(find_idx_file(dir_.path(), "t10k-labels-idx1-ubyte"),
            dir_ / "t10k-labels-idx1-ubyte.gz");
  write_bytes(dir_ / "t10k-labels-idx1-ubyte", read_bytes(dir_ / "t10k-labels-idx1-ubyte.gz"));
  EXPECT_EQ(find_idx_file(dir_.path(), "t10k-labels-idx1-ubyte"), dir_ / "t10k-labels-idx1-ubyte");
}

TEST_F(DatasetFolder, NamesTheMissingFile) {
  write({});
  std::filesystem::remove(dir_ / "t10k-images-idx3-ubyte.gz");
  EXPECT_THROW_WITH(load_datasets(options(10)), Error,
                    "t10k-images-idx3-ubyte: file not found (nor t10k-images-idx3-ubyte.gz)");
}

TEST_F(DatasetFolder, NamesAMissingFolder) {
  EXPECT_THROW_WITH(load_datasets({dir_ / "absent", 10, std::nullopt}), Error,
                    "--data-dir " + (dir_ / "absent").string() + ": folder not found");
}

TEST_F(DatasetFolder, RejectsDataThatWouldNotFit) {
  write({/*train=*/40, /*test=*/12, /*rows=*/6, /*cols=*/5, /*classes=*/4, /*gzip=*/false});
  // 52 images of 30 pixels: 1560 bytes read, the splits views of them; 52 labels, 9 bytes each
  // as read and as 64-bit integers. Refused before a byte of data is read.
  EXPECT_THROW_WITH(load_datasets(options(10), /*memory_limit=*/2027), Error,
                    "train-images-idx3-ubyte: 2028 bytes of memory to load the four files (the "
                    "labels also as 64-bit integers, and a gzip file's own bytes while it is "
                    "decoded), more than the 2027 bytes of memory available");
  EXPECT_NO_THROW(load_datasets(options(10), /*memory_limit=*/2028));
}

TEST_F(DatasetFolder, SplitsAreViewsOfTheImagesAsRead) {
  write({/*train=*/40, /*test=*/12, /*rows=*/6, /*cols=*/5, /*classes=*/4, /*gzip=*/true});
  const Datasets data = load_datasets(options(10));
  // One buffer for the training file's images: the validation rows follow the training rows.
  EXPECT_EQ(data.train.images.data_ptr<uint8_t>() + 30 * 30, data.val.images.data_ptr<uint8_t>());
  EXPECT_TRUE(data.train.images.is_contiguous() && data.val.images.is_contiguous());
  EXPECT_EQ(data.train.size(), 30);
  EXPECT_EQ(data.val.size(), 10);
  EXPECT_EQ(data.test.size(), 12);
}

TEST_F(DatasetFolder, NamesAPathTheFileSystemCannotResolve) {
  std::filesystem::create_symlink("train-images-idx3-ubyte",
                                  dir_.path() / "train-images-idx3-ubyte");
  EXPECT_THROW_WITH(load_datasets(options(10)), Error,
                    (dir_.path() / "train-images-idx3-ubyte").string() + ": cannot read (");
  const std::string long_name(300, 'x');
  EXPECT_THROW_WITH(find_idx_file(dir_.path() / long_name, "t10k-images-idx3-ubyte"), Error,
                    long_name);
}

TEST_F(DatasetFolder, RejectsImageAndLabelCountsThatDiffer) {
  write({});
  write_bytes(dir_ / "train-labels-idx1-ubyte.gz",
              gzip_bytes(idx_bytes(0x801, {59}, std::vector<uint8_t>(59, 1))));
  EXPECT_THROW_WITH(load_datasets(options(10)), Error, "holds 59 labels but");
}

TEST_F(DatasetFolder, RejectsLabelsFileWhereImagesBelong) {
  write({});
  std::filesystem::copy_file(dir_ / "t10k-labels-idx1-ubyte.gz", dir_ / "t10k-images-idx3-ubyte.gz",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_THROW_WITH(load_datasets(options(10)), Error,
                    "t10k-images-idx3-ubyte.gz: magic number 0x00000801; expected 0x00000803");
}

TEST_F(DatasetFolder, RejectsTrainingLabelOutOfRange) {
  write({/*train=*/60, /*test=*/20, 6, 5, /*classes=*/3, true});
  std::vector<uint8_t> labels(60);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 3);
  labels[17] = 200;
  write_bytes(dir_ / "train-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes(0x801, {60}, labels)));
  EXPECT_THROW_WITH(load_datasets(options(10)), Error,
                    "label 200 at index 17 is out of range; expected labels 0..K-1 with each "
                    "present, but label 3 never occurs");
}

TEST_F(DatasetFolder, RejectsTestLabelOutsideTheTrainingClasses) {
  write({/*train=*/60, /*test=*/20, 6, 5, /*classes=*/3, true});
  std::vector<uint8_t> labels(20, 1);
  labels[4] = 3;
  write_bytes(dir_ / "t10k-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes(0x801, {20}, labels)));
  EXPECT_THROW_WITH(load_datasets(options(10)), Error,
                    "t10k-labels-idx1-ubyte.gz: label 3 at index 4 is out of range; expected 0..2");
}

TEST_F(DatasetFolder, RejectsTestImagesOfAnotherSize) {
  write({});
  write_bytes(dir_ / "t10k-images-idx3-ubyte.gz",
              gzip_bytes(idx_bytes(0x803, {20, 5, 6}, std::vector<uint8_t>(600, 0))));
  EXPECT_THROW_WITH(load_datasets(options(10)), Error, "images are 5x6; expected 6x5");
}

TEST_F(DatasetFolder, RejectsSplitSizesTheFilesCannotSatisfy) {
  write({/*train=*/60});
  EXPECT_THROW_WITH(load_datasets(options(60)), Error,
                    "--val-size 60: expected fewer than the 60 examples");
  EXPECT_THROW_WITH(
      load_datasets({dir_.path(), 10, int64_t{51}}), Error,
      "--train-size 51: expected at most 50 (60 training examples minus --val-size 10)");
}

TEST(IdxReader, SurvivesFuzzRegressions) {
  // Inputs scripts/fuzz_idx.sh found: each must load or fail with a clear error.
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(L2SWEEP_FUZZ_REGRESSIONS_DIR)) {
    if (entry.path().extension() == ".md") continue;
    ++replayed;
    try {
      const IdxArray array = read_idx(entry.path());
      EXPECT_FALSE(array.dims.empty()) << entry.path();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kData) << entry.path();
    }
  }
  std::cout << "replayed " << replayed << " fuzz regression input(s)\n";
}

TEST(RealFixture, LoadsFashionMnistMini) {
  const Datasets data = load_datasets({testing::fixture_dir(), 200, std::nullopt});
  EXPECT_EQ(data.num_classes, 10);
  EXPECT_EQ(data.input_features(), 784);
  EXPECT_EQ(data.train.size(), 1000);
  EXPECT_EQ(data.val.size(), 200);
  EXPECT_EQ(data.test.size(), 300);
}

}  // namespace
}  // namespace l2sweep

namespace l2sweep {
namespace {

/// Copies the four fixture files into `dir`.
void copy_fixture_into(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& entry : std::filesystem::directory_iterator(testing::fixture_dir())) {
    std::filesystem::copy_file(entry.path(), dir / entry.path().filename());
  }
}

TEST(DataFolder, AFolderWithTheFilesIsUsedAsItIs) {
  const DataFolder folder = locate_data(testing::fixture_dir().string(), true);
  EXPECT_EQ(folder.path, testing::fixture_dir().string());
  EXPECT_TRUE(folder.note.empty());
}

TEST(DataFolder, ThePlainDefaultGivesWayToKerasCopyAndSaysSo) {
  testing::TempDir home;
  copy_fixture_into(home / ".keras/datasets/fashion-mnist");
  const testing::ScopedEnvironment environment(
      {{"HOME", home.path().string()}, {"KERAS_HOME", ""}});
  const std::string missing = (home / "no-such-default").string();
  const DataFolder folder = locate_data(missing, false);
  EXPECT_EQ(folder.path, (home / ".keras/datasets/fashion-mnist").string());
  EXPECT_NE(folder.note.find("using Keras' copy in ~/.keras/datasets/fashion-mnist"),
            std::string::npos)
      << folder.note;
  // Given explicitly, the folder is not swapped: the message names Keras' copy instead.
  try {
    locate_data(missing, true);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(std::string(e.what()).find("expected --data-dir " +
                                         (home / ".keras/datasets/fashion-mnist").string()),
              std::string::npos)
        << e.what();
  }
}

TEST(DataFolder, AParentFolderNamesTheSubfolderThatHasTheFiles) {
  testing::TempDir root;
  copy_fixture_into(root / "datasets/fashion-mnist");
  const testing::ScopedEnvironment environment(
      {{"HOME", root.path().string()}, {"KERAS_HOME", ""}});
  try {
    locate_data(root.path().string(), true);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "--data-dir " + root.path().string() + ": the IDX files are in its subfolder " +
                  (root / "datasets/fashion-mnist").string() + "; expected --data-dir " +
                  (root / "datasets/fashion-mnist").string());
  }
}

TEST(DataFolder, NoDataAnywhereSaysWhereItLookedAndWhatToPass) {
  testing::TempDir root;
  const testing::ScopedEnvironment environment(
      {{"HOME", root.path().string()}, {"KERAS_HOME", ""}});
  try {
    locate_data((root / "missing").string(), false);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_EQ(std::string(e.what()),
              "no data: neither " + (root / "missing").string() +
                  " nor Keras' copy in ~/.keras/datasets/fashion-mnist has the four MNIST-style "
                  "IDX files; expected --data-dir DIR (Debian: apt-get install "
                  "dataset-fashion-mnist)");
  }
  // A --data-dir that is missing is left for the loader, which names it.
  EXPECT_EQ(locate_data((root / "missing").string(), true).path, (root / "missing").string());
  EXPECT_FALSE(has_idx_files(root.path()));
}

TEST(DataFolder, AFileIsNotAFolder) {
  testing::TempDir root;
  testing::write_bytes(root / "file", {1, 2, 3});
  EXPECT_THROW(locate_data((root / "file").string(), true), Error);
}

}  // namespace
}  // namespace l2sweep
