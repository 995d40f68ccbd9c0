#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "error.hpp"

namespace alloy {

namespace {

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (!file_) fail(ALLOY_ERR_IO, "cannot open {}: {}", path, std::strerror(errno));
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Up to `bytes` bytes; fewer only at the end of the data.
  std::size_t read(void* into, std::size_t bytes) {
    std::size_t done = 0;
    while (done < bytes) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(bytes - done, INT_MAX));
      const int got = gzread(file_, static_cast<char*>(into) + done, chunk);
      if (got < 0) {
        int code = Z_OK;
        const char* message = gzerror(file_, &code);
        fail(ALLOY_ERR_IO, "cannot decompress {}: {}", path_, message);
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

 private:
  std::string path_;
  gzFile file_;
};

// Bytes read at once: a header that claims more than the file holds must not make alloy
// allocate the claim up front.
constexpr std::size_t kChunk = 1 << 20;

}  // namespace

IdxArray read_idx(const std::string& path) {
  GzFile file(path);
  uint8_t magic[4];
  if (file.read(magic, 4) != 4)
    fail(ALLOY_ERR_IO, "{} is not an IDX file: shorter than 4 bytes", path);
  if (magic[0] != 0 || magic[1] != 0) {
    fail(ALLOY_ERR_IO, "{} is not an IDX file: bad magic {:02x} {:02x} (expected 00 00)", path,
         magic[0], magic[1]);
  }
  if (magic[2] != kIdxUnsignedByte) {
    fail(ALLOY_ERR_IO, "{}: IDX dtype 0x{:02x} is not supported (only unsigned bytes, 0x08)", path,
         magic[2]);
  }
  const int rank = magic[3];
  if (rank == 0 || rank > static_cast<int>(kMaxRank)) {
    fail(ALLOY_ERR_IO, "{}: IDX rank {} is not in 1..{}", path, rank, kMaxRank);
  }

  IdxArray array;
  for (int d = 0; d < rank; ++d) {
    uint8_t be[4];
    if (file.read(be, 4) != 4) {
      fail(ALLOY_ERR_IO, "{}: IDX header cut short in dimension {} of {}", path, d + 1, rank);
    }
    array.shape.push_back((int64_t{be[0]} << 24) | (int64_t{be[1]} << 16) | (int64_t{be[2]} << 8) |
                          int64_t{be[3]});
  }
  uint64_t expected = 0;
  try {
    expected = shape_numel(array.shape);
  } catch (const Error& e) {
    fail(ALLOY_ERR_IO, "{}: IDX dimensions {}: {}", path, shape_string(array.shape), e.what());
  }

  while (array.data.size() < expected) {
    const std::size_t have = array.data.size();
    const std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(expected - have, kChunk));
    array.data.resize(have + want);
    const std::size_t got = file.read(array.data.data() + have, want);
    if (got < want) {
      fail(ALLOY_ERR_IO, "{} is truncated: dimensions {} need {} bytes of data, the file has {}",
           path, shape_string(array.shape), expected, have + got);
    }
  }
  uint8_t extra;
  if (file.read(&extra, 1) != 0) {
    fail(ALLOY_ERR_IO, "{}: data continues past the {} bytes that dimensions {} hold", path,
         expected, shape_string(array.shape));
  }
  return array;
}

}  // namespace alloy
