// libFuzzer target: the safetensors header parser (untrusted: any file a user points alloy at).
//
// The input is a whole file. It is parsed as the file it is, as a file of other sizes (data area
// shorter or longer than the input), and from a buffer holding only 8 + N header bytes, as a
// reader that maps only the header would. alloy::Error is the expected rejection; any other
// exception escapes and is reported. After a successful parse, the layout invariants the reader
// relies on are checked and a violation traps, so logic errors show up, not only crashes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "error.hpp"
#include "io/safetensors.hpp"

namespace {

using alloy::SafetensorsHeader;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

void check_invariants(const SafetensorsHeader& header, const uint8_t* data, uint64_t file_size) {
  // data_start is 8 + N, within the file.
  check(header.data_start == 8 + read_le64(data));
  check(header.data_start <= file_size);
  std::set<std::string> names;
  uint64_t next = header.data_start;
  const alloy::TensorEntry* previous = nullptr;
  for (const alloy::TensorEntry& t : header.tensors) {
    check(alloy::tensor_name_problem(t.name).empty());
    check(t.name != "__metadata__");
    check(names.insert(t.name).second);
    check(t.shape.size() <= alloy::kMaxRank);
    // bytes = numel * element size, without overflow.
    uint64_t numel = 1;
    for (const int64_t d : t.shape) {
      check(d >= 0);
      check(d == 0 || numel <= std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d));
      numel *= static_cast<uint64_t>(d);
    }
    const uint64_t element = alloy::dtype_size(t.dtype);
    check(numel <= std::numeric_limits<uint64_t>::max() / element);
    check(t.bytes == numel * element);
    // [offset, offset + bytes) lies inside [data_start, file_size] ...
    check(t.offset >= header.data_start);
    check(t.offset <= file_size && t.bytes <= file_size - t.offset);
    // ... in data order, each tensor where the previous one ended (no overlap, no gap); zero-size
    // tensors at one offset in name order.
    check(t.offset == next);
    if (previous && previous->offset == t.offset && previous->bytes == 0 && t.bytes == 0) {
      check(previous->name < t.name);
    }
    next = t.offset + t.bytes;
    previous = &t;
  }
  check(next == file_size);  // the last tensor ends at the end of the file
}

bool same(const SafetensorsHeader& a, const SafetensorsHeader& b) {
  if (a.data_start != b.data_start || a.metadata != b.metadata ||
      a.tensors.size() != b.tensors.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const alloy::TensorEntry& x = a.tensors[i];
    const alloy::TensorEntry& y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.offset != y.offset ||
        x.bytes != y.bytes) {
      return false;
    }
  }
  return true;
}

// Parses `size` bytes at `data` as the start of a `file_size`-byte file; checks the result.
bool parse(const uint8_t* data, uint64_t size, uint64_t file_size, SafetensorsHeader* out) {
  try {
    *out = alloy::parse_safetensors_header(reinterpret_cast<const char*>(data), size, file_size,
                                           "fuzz.safetensors");
  } catch (const alloy::Error&) {
    return false;  // a rejected file: the expected outcome for most inputs
  }
  check_invariants(*out, data, file_size);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  SafetensorsHeader whole;
  const bool accepted = parse(data, size, size, &whole);

  // The same bytes as the start of longer files, and of a file shorter than what was read.
  SafetensorsHeader other;
  for (const uint64_t file_size :
       {uint64_t{size} + 1, uint64_t{size} + 4096, std::numeric_limits<uint64_t>::max()}) {
    parse(data, size, file_size, &other);
  }
  if (size > 0) parse(data, size, size - 1, &other);

  // Only the header in memory (a copy of exactly 8 + N bytes, so ASan sees any read past it):
  // the parser must not look further, and must agree with the parse of the whole file.
  if (size >= 8) {
    const uint64_t n = read_le64(data);
    if (n <= size - 8) {
      const std::vector<uint8_t> head(data, data + 8 + n);
      SafetensorsHeader from_head;
      check(parse(head.data(), head.size(), size, &from_head) == accepted);
      if (accepted) check(same(whole, from_head));
    }
  }
  return 0;
}
