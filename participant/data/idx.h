// IDX files (the MNIST / Fashion-MNIST format) and partition index files.
//
// IDX: big-endian header, magic 0x00000803 (unsigned bytes, 3 dimensions: N, H, W) for images and
// 0x00000801 (N) for labels, then the raw bytes. Header fields are bounded (N in [1, 2^30], H and
// W in [1, 16384], H * W <= model::kMaxFeatures) and the file size must equal the header plus
// N * H * W bytes (overflow-checked); errors name the file and the header field. Files are read
// uncompressed (scripts/setup.sh gunzips Debian's dataset-fashion-mnist into
// build/datasets/fashion-mnist). Pixels are scaled to [0, 1] (v / 255) and optionally normalized
// ((x - mean) / stddev). A participant passes the row indices of its partition and only those
// rows are read.
//
// Partition index file (written by `cairn-data split-fashion-mnist`): UTF-8 text, one 0-based row
// index per line; lines starting with '#' are comments, blank lines are ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "common/core/error.h"
#include "participant/data/dataset.h"

namespace cairn::data {

struct IdxOptions {
  // Rows to load, in this order (repeats allowed, at most as many as the file has rows); empty =
  // every row.
  std::vector<std::int64_t> indices{};
  // After scaling to [0, 1]: x = (x - mean) / stddev. Defaults are Fashion-MNIST's training-set
  // pixel statistics.
  bool normalize = false;
  float mean = 0.2860f;
  float stddev = 0.3530f;
  // Number of classes; 0 = max label + 1 over the loaded rows. Labels must be below it.
  std::int64_t num_classes = 10;
  // Bound on each file's size (the Fashion-MNIST training images are 47 MB).
  std::uint64_t max_file_bytes = 256ull << 20;
};

Result<Dataset> LoadIdx(const std::filesystem::path& images, const std::filesystem::path& labels,
                        const IdxOptions& options = {});

// Only the labels (e.g. to compute a split without reading the images).
Result<std::vector<std::int64_t>> LoadIdxLabels(const std::filesystem::path& labels,
                                                std::uint64_t max_file_bytes = 16ull << 20);

enum class FashionMnistPart { kTrain, kTest };
// `dir` holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte.
Result<Dataset> LoadFashionMnist(const std::filesystem::path& dir, FashionMnistPart part,
                                 const IdxOptions& options = {});
std::filesystem::path FashionMnistImages(const std::filesystem::path& dir, FashionMnistPart part);
std::filesystem::path FashionMnistLabels(const std::filesystem::path& dir, FashionMnistPart part);

// Partition index files. Read checks every index is in [0, num_rows) (errors name file and line)
// and bounds the file to max_file_bytes. Write is atomic; `comment` (one line) goes first as "# ...".
Result<std::vector<std::int64_t>> ReadIndexFile(const std::filesystem::path& path, std::int64_t num_rows,
                                                std::uint64_t max_file_bytes = 64ull << 20);
Status WriteIndexFile(const std::filesystem::path& path, std::span<const std::int64_t> indices,
                      std::string_view comment);

}  // namespace cairn::data
