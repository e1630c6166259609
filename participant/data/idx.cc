#include "participant/data/idx.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <system_error>

#include "common/core/file.h"
#include "common/model/model_spec.h"

namespace cairn::data {
namespace {

// Sane bounds on IDX header fields (Fashion-MNIST: 60000 x 28 x 28). The example count is also
// bounded by the file size, which the header must match exactly.
constexpr std::uint64_t kMaxIdxExamples = 1u << 30;
constexpr std::uint64_t kMaxIdxImageSide = 1u << 14;

std::uint32_t Be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// An opened IDX file whose header and size were checked.
struct IdxFile {
  std::ifstream in;
  std::vector<std::int64_t> dims;  // N first
  std::uint64_t header_bytes = 0;
};

Result<IdxFile> OpenIdx(const std::filesystem::path& path, int expected_dims, std::uint64_t max_bytes) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return Fail(ec == std::errc::no_such_file_or_directory ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot read " + path.string() + ": " + ec.message());
  }
  if (size > max_bytes) {
    return Fail(ErrorCode::kOutOfRange, path.string() + " is " + std::to_string(size) +
                                            " bytes, above the limit of " + std::to_string(max_bytes));
  }
  IdxFile f;
  f.in.open(path, std::ios::binary);
  if (!f.in) return Fail(ErrorCode::kIo, "cannot open " + path.string());
  unsigned char magic[4];
  if (!f.in.read(reinterpret_cast<char*>(magic), 4)) {
    return Fail(ErrorCode::kInvalidArgument, path.string() + ": shorter than an IDX header");
  }
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != expected_dims) {
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + ": not an IDX file of unsigned bytes with " + std::to_string(expected_dims) +
                    " dimensions (magic bytes 00 00 08 0" + std::to_string(expected_dims) +
                    " expected; is it still gzip-compressed?)");
  }
  // Every header field is bounded before anything is sized from it, and their product is
  // overflow-checked: it must equal the payload the file actually holds.
  static constexpr const char* kImageFields[] = {"number of images", "rows", "columns"};
  auto field = [&](int i) {
    return "IDX header field '" + std::string(expected_dims == 1 ? "number of labels" : kImageFields[i]) +
           "' (dimension " + std::to_string(i + 1) + " of " + std::to_string(expected_dims) + ")";
  };
  for (int i = 0; i < expected_dims; ++i) {
    unsigned char b[4];
    if (!f.in.read(reinterpret_cast<char*>(b), 4)) {
      return Fail(ErrorCode::kInvalidArgument, path.string() + ": truncated IDX header (" + field(i) + " missing)");
    }
    const std::uint32_t d = Be32(b);
    if (d == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  path.string() + ": " + field(i) + " is 0" + (i == 0 ? " (the file holds no examples)" : ""));
    }
    const std::uint64_t limit = i == 0 ? kMaxIdxExamples : kMaxIdxImageSide;
    if (d > limit) {
      return Fail(ErrorCode::kInvalidArgument, path.string() + ": " + field(i) + " is " + std::to_string(d) +
                                                   ", above the limit of " + std::to_string(limit));
    }
    f.dims.push_back(d);
  }
  if (expected_dims == 3 && f.dims[1] * f.dims[2] > model::kMaxFeatures) {
    return Fail(ErrorCode::kInvalidArgument, path.string() + ": IDX images of " + std::to_string(f.dims[1]) + " x " +
                                                 std::to_string(f.dims[2]) + " pixels exceed the limit of " +
                                                 std::to_string(model::kMaxFeatures) + " features (model::kMaxFeatures)");
  }
  f.header_bytes = 4 + 4 * static_cast<std::uint64_t>(expected_dims);
  const std::uint64_t available = size > f.header_bytes ? size - f.header_bytes : 0;
  std::uint64_t payload = 1;
  for (int i = 0; i < expected_dims; ++i) {
    if (__builtin_mul_overflow(payload, static_cast<std::uint64_t>(f.dims[i]), &payload) || payload > available) {
      return Fail(ErrorCode::kInvalidArgument, path.string() + ": " + field(i) + " makes the described payload larger than the " +
                                                   std::to_string(available) + " bytes after the header (truncated or not IDX)");
    }
  }
  if (payload != available) {
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + ": " + std::to_string(size) + " bytes, but its header describes " +
                    std::to_string(f.header_bytes + payload) + " (truncated or not IDX)");
  }
  return f;
}

}  // namespace

Result<std::vector<std::int64_t>> LoadIdxLabels(const std::filesystem::path& labels, std::uint64_t max_file_bytes) {
  CAIRN_ASSIGN_OR_RETURN(IdxFile f, OpenIdx(labels, 1, max_file_bytes));
  std::vector<unsigned char> raw(static_cast<std::size_t>(f.dims[0]));
  if (!raw.empty() && !f.in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()))) {
    return Fail(ErrorCode::kIo, "cannot read " + labels.string());
  }
  return std::vector<std::int64_t>(raw.begin(), raw.end());
}

Result<Dataset> LoadIdx(const std::filesystem::path& images, const std::filesystem::path& labels,
                        const IdxOptions& options) {
  if (options.normalize && !(options.stddev > 0)) {
    return Fail(ErrorCode::kInvalidArgument, "IDX normalization needs stddev > 0");
  }
  CAIRN_ASSIGN_OR_RETURN(IdxFile img, OpenIdx(images, 3, options.max_file_bytes));
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::int64_t> all_labels, LoadIdxLabels(labels, options.max_file_bytes));
  const std::int64_t n = img.dims[0];
  if (static_cast<std::int64_t>(all_labels.size()) != n) {
    return Fail(ErrorCode::kInvalidArgument, images.string() + " holds " + std::to_string(n) + " images but " +
                                                 labels.string() + " holds " + std::to_string(all_labels.size()) +
                                                 " labels");
  }
  const std::int64_t h = img.dims[1], w = img.dims[2];
  const std::int64_t pixels = h * w;

  std::vector<std::int64_t> rows = options.indices;
  if (rows.empty()) {
    rows.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) rows[i] = i;
  }
  if (static_cast<std::int64_t>(rows.size()) > n) {
    // Repeats are allowed, but not more rows than the file holds (a bound on the allocation).
    return Fail(ErrorCode::kOutOfRange, std::to_string(rows.size()) + " row indices for the " + std::to_string(n) +
                                            " rows of " + images.string() + " (at most one per row)");
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= n) {
      return Fail(ErrorCode::kOutOfRange, "index " + std::to_string(i) + " names row " + std::to_string(rows[i]) +
                                              ", outside the " + std::to_string(n) + " rows of " + images.string());
    }
  }

  Dataset d;
  d.rows = static_cast<std::int64_t>(rows.size());
  d.feature_shape = {1, h, w};
  d.features.resize(rows.size() * static_cast<std::size_t>(pixels));
  d.labels.resize(rows.size());
  std::vector<unsigned char> buf(static_cast<std::size_t>(pixels));
  const float scale = 1.0f / 255.0f;
  std::int64_t next_sequential = -1;
  std::int64_t max_label = -1;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::int64_t r = rows[i];
    if (r != next_sequential) {
      img.in.seekg(static_cast<std::streamoff>(img.header_bytes + static_cast<std::uint64_t>(r * pixels)));
    }
    if (!img.in.read(reinterpret_cast<char*>(buf.data()), pixels)) {
      return Fail(ErrorCode::kIo, "cannot read image " + std::to_string(r) + " of " + images.string());
    }
    next_sequential = r + 1;
    float* out = d.features.data() + i * static_cast<std::size_t>(pixels);
    for (std::int64_t p = 0; p < pixels; ++p) {
      float v = buf[p] * scale;
      if (options.normalize) v = (v - options.mean) / options.stddev;
      out[p] = v;
    }
    d.labels[i] = all_labels[r];
    if (options.num_classes > 0 && d.labels[i] >= options.num_classes) {
      return Fail(ErrorCode::kInvalidArgument, labels.string() + ": the label of row " + std::to_string(r) +
                                                   " is not below " + std::to_string(options.num_classes) +
                                                   " classes");
    }
    max_label = std::max(max_label, d.labels[i]);
  }
  d.num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  return d;
}

std::filesystem::path FashionMnistImages(const std::filesystem::path& dir, FashionMnistPart part) {
  return dir / (part == FashionMnistPart::kTrain ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
}
std::filesystem::path FashionMnistLabels(const std::filesystem::path& dir, FashionMnistPart part) {
  return dir / (part == FashionMnistPart::kTrain ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
}

Result<Dataset> LoadFashionMnist(const std::filesystem::path& dir, FashionMnistPart part, const IdxOptions& options) {
  return LoadIdx(FashionMnistImages(dir, part), FashionMnistLabels(dir, part), options);
}

Result<std::vector<std::int64_t>> ReadIndexFile(const std::filesystem::path& path, std::int64_t num_rows,
                                                std::uint64_t max_file_bytes) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, max_file_bytes));
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  std::int64_t line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    std::int64_t v = -1;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc() || ptr != line.data() + line.size()) {
      return Fail(ErrorCode::kInvalidArgument, path.string() + " line " + std::to_string(line_no) +
                                                   ": not a row index: '" + std::string(line.substr(0, 40)) + "'");
    }
    if (v < 0 || v >= num_rows) {
      return Fail(ErrorCode::kOutOfRange, path.string() + " line " + std::to_string(line_no) + ": row " +
                                              std::to_string(v) + " is outside [0, " + std::to_string(num_rows) + ")");
    }
    out.push_back(v);
  }
  if (out.empty()) return Fail(ErrorCode::kInvalidArgument, path.string() + ": no row indices");
  return out;
}

Status WriteIndexFile(const std::filesystem::path& path, std::span<const std::int64_t> indices,
                      std::string_view comment) {
  std::string out;
  if (!comment.empty()) {
    if (comment.find('\n') != std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument, "an index file comment must be one line");
    }
    out += "# ";
    out += comment;
    out += '\n';
  }
  out.reserve(out.size() + indices.size() * 6);
  for (std::int64_t v : indices) {
    out += std::to_string(v);
    out += '\n';
  }
  return WriteFileAtomic(path, std::string_view(out));
}

}  // namespace cairn::data
