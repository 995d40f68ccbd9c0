#include "io/safetensors.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "error.hpp"

namespace alloy {

using nlohmann::json;

std::string tensor_name_problem(std::string_view name) {
  if (name.empty()) return "a tensor name is empty";
  std::string escaped;
  bool control = false;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      control = true;
      escaped += fmt::format("\\x{:02x}", byte);
    } else {
      escaped += c;
    }
  }
  if (control) return fmt::format("tensor name '{}' contains a control character", escaped);
  // Tools and strategies may turn tensor names into file names (caches, per-tensor exports);
  // a name that walks folders would let a checkpoint reach outside them.
  if (name.find_first_of("/\\") != std::string_view::npos) {
    return fmt::format("tensor name '{}' contains a path separator ('/' or '\\')", escaped);
  }
  return {};
}

namespace {

// Where a tensor's bytes lie, relative to the start of the data area.
struct Placed {
  TensorEntry entry;
  uint64_t begin;
  uint64_t end;
};

uint64_t read_le64(const char* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

// JSON numbers that are non-negative integers; nlohmann keeps those as unsigned.
bool as_u64(const json& value, uint64_t* out) {
  if (!value.is_number_unsigned()) return false;
  *out = value.get<uint64_t>();
  return true;
}

const json& member(const json& entry, const char* key, const std::string& label,
                   const std::string& name) {
  const auto it = entry.find(key);
  if (it == entry.end()) fail(ALLOY_ERR_IO, "{}: tensor '{}' has no \"{}\"", label, name, key);
  return *it;
}

DType parse_entry_dtype(const json& entry, const std::string& label, const std::string& name) {
  const json& value = member(entry, "dtype", label, name);
  if (!value.is_string()) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': dtype {} is not a string", label, name, value.dump());
  }
  DType dtype;
  if (!parse_dtype(value.get<std::string>(), &dtype)) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}' has unknown dtype '{}'", label, name,
         value.get<std::string>());
  }
  return dtype;
}

Shape parse_entry_shape(const json& entry, const std::string& label, const std::string& name) {
  const json& value = member(entry, "shape", label, name);
  if (!value.is_array()) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': shape {} is not an array", label, name, value.dump());
  }
  if (value.size() > kMaxRank) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': rank {} is more than the {} dimensions alloy supports",
         label, name, value.size(), kMaxRank);
  }
  Shape shape;
  for (const json& dim : value) {
    uint64_t d;
    if (!as_u64(dim, &d) || d > static_cast<uint64_t>(INT64_MAX)) {
      fail(ALLOY_ERR_IO,
           "{}: tensor '{}': shape {} has a dimension {} that is not a non-negative 64-bit integer",
           label, name, value.dump(), dim.dump());
    }
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

Placed parse_entry(const std::string& name, const json& entry, uint64_t data_size,
                   const std::string& label) {
  if (!entry.is_object()) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': entry {} is not an object", label, name, entry.dump());
  }
  Placed placed{
      {name, parse_entry_dtype(entry, label, name), parse_entry_shape(entry, label, name)}, 0, 0};
  TensorEntry& t = placed.entry;

  uint64_t numel = 0;
  try {
    numel = shape_numel(t.shape);
  } catch (const Error& e) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': {}", label, name, e.what());
  }
  const uint64_t element = dtype_size(t.dtype);
  if (numel > UINT64_MAX / element) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': byte count of shape {} of {} overflows 64 bits", label,
         name, shape_string(t.shape), dtype_name(t.dtype));
  }
  t.bytes = numel * element;

  const json& offsets = member(entry, "data_offsets", label, name);
  if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0], &placed.begin) ||
      !as_u64(offsets[1], &placed.end)) {
    fail(ALLOY_ERR_IO,
         "{}: tensor '{}': data_offsets {} is not [begin, end] of two non-negative integers", label,
         name, offsets.dump());
  }
  if (placed.end < placed.begin) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': data_offsets [{}, {}] end before they begin", label, name,
         placed.begin, placed.end);
  }
  if (placed.end - placed.begin != t.bytes) {
    fail(ALLOY_ERR_IO, "{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets span {}",
         label, name, shape_string(t.shape), dtype_name(t.dtype), t.bytes,
         placed.end - placed.begin);
  }
  if (placed.end > data_size) {
    fail(ALLOY_ERR_IO,
         "{}: tensor '{}': data_offsets [{}, {}] run past the end of the {}-byte data area", label,
         name, placed.begin, placed.end, data_size);
  }
  return placed;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& label) {
  if (!value.is_object()) {
    fail(ALLOY_ERR_IO, "{}: __metadata__ is not an object of strings", label);
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail(ALLOY_ERR_IO, "{}: __metadata__ entry '{}' is {}, not a string", label, key,
           item.dump());
    }
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// nlohmann keeps the last of repeated keys; a repeated tensor name must be an error instead,
// so the parse callback records the top-level keys as they go by.
// It also stops at kMaxJsonDepth: a header needs 3 levels, and printing a value nested millions
// deep in an error message (json::dump recurses) would overflow the stack.
json parse_json(const char* begin, const char* end, const std::string& label) {
  constexpr int kMaxJsonDepth = 64;
  std::set<std::string> keys;
  std::string repeated;
  const auto watch = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) {
      fail(ALLOY_ERR_IO, "{}: header nests JSON values more than {} deep", label, kMaxJsonDepth);
    }
    if (event == json::parse_event_t::key && depth == 1 && repeated.empty() &&
        !keys.insert(parsed.get<std::string>()).second) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  json root;
  try {
    root = json::parse(begin, end, watch);
  } catch (const json::exception& e) {
    fail(ALLOY_ERR_IO, "{}: header is not valid JSON: {}", label, e.what());
  }
  if (!repeated.empty()) fail(ALLOY_ERR_IO, "{}: tensor '{}' is listed twice", label, repeated);
  return root;
}

// Like the reference implementation, tensors must tile the data area exactly: sorted by
// offset, each starts where the previous one ended and the last ends at the end of the file.
void check_tiling(const std::vector<Placed>& placed, uint64_t data_size, const std::string& label) {
  uint64_t next = 0;
  const Placed* previous = nullptr;
  for (const Placed& p : placed) {
    const std::string& name = p.entry.name;
    if (p.begin < next) {
      fail(ALLOY_ERR_IO, "{}: tensor '{}' (data_offsets [{}, {}]) overlaps tensor '{}' ([{}, {}])",
           label, name, p.begin, p.end, previous->entry.name, previous->begin, previous->end);
    }
    if (p.begin > next && previous) {
      fail(ALLOY_ERR_IO,
           "{}: gap of {} bytes between tensor '{}' (ends at {}) and tensor '{}' (starts at {})",
           label, p.begin - next, previous->entry.name, next, name, p.begin);
    }
    if (p.begin > next) {
      fail(ALLOY_ERR_IO, "{}: gap of {} bytes at the start of the data area before tensor '{}'",
           label, p.begin, name);
    }
    next = p.end;
    previous = &p;
  }
  if (next != data_size) {
    fail(ALLOY_ERR_IO,
         "{}: tensors end at data offset {} but the data area has {} bytes; the last {} bytes "
         "belong to no tensor",
         label, next, data_size, data_size - next);
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const char* data, uint64_t size, uint64_t file_size,
                                           const std::string& file_label) {
  const std::string& label = file_label;
  if (file_size < 8) {
    fail(ALLOY_ERR_IO, "{}: file has {} bytes, too few for the 8-byte header length", label,
         file_size);
  }
  if (size < 8) fail(ALLOY_ERR_IO, "{}: only {} bytes of the header were read", label, size);
  const uint64_t n = read_le64(data);
  if (n > kMaxSafetensorsHeader) {
    fail(ALLOY_ERR_IO, "{}: header length {} exceeds the limit of {} bytes", label, n,
         kMaxSafetensorsHeader);
  }
  if (8 + n > file_size) {
    fail(ALLOY_ERR_IO, "{}: header length {} runs past the end of the {}-byte file", label, n,
         file_size);
  }
  if (size < 8 + n) fail(ALLOY_ERR_IO, "{}: only {} bytes of the header were read", label, size);

  const json root = parse_json(data + 8, data + 8 + n, label);
  if (!root.is_object()) fail(ALLOY_ERR_IO, "{}: header is not a JSON object", label);

  SafetensorsHeader header;
  header.data_start = 8 + n;
  const uint64_t data_size = file_size - header.data_start;
  std::vector<Placed> placed;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      header.metadata = parse_metadata(value, label);
      continue;
    }
    const std::string problem = tensor_name_problem(name);
    if (!problem.empty()) fail(ALLOY_ERR_IO, "{}: {}", label, problem);
    placed.push_back(parse_entry(name, value, data_size, label));
  }
  // Stable, so zero-size tensors at one offset keep the (sorted) order of their names.
  std::stable_sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    return std::make_pair(a.begin, a.end) < std::make_pair(b.begin, b.end);
  });
  check_tiling(placed, data_size, label);

  for (Placed& p : placed) {
    p.entry.offset = header.data_start + p.begin;
    header.tensors.push_back(std::move(p.entry));
  }
  return header;
}

namespace {

// A tensor's bytes inside a mapped file; holding the file keeps the mapping alive.
class MappedBuffer : public Buffer {
 public:
  MappedBuffer(std::shared_ptr<MappedFile> file, uint64_t offset, uint64_t bytes)
      : Buffer(const_cast<char*>(file->data()) + offset, bytes, cpu_device(), false),
        file_(std::move(file)) {}

 private:
  std::shared_ptr<MappedFile> file_;
};

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  SafetensorsHeader header =
      parse_safetensors_header(file->data(), file->size(), file->size(), path);
  return std::shared_ptr<SafetensorsFile>(new SafetensorsFile(std::move(file), std::move(header)));
}

SafetensorsFile::SafetensorsFile(std::shared_ptr<MappedFile> file, SafetensorsHeader header)
    : file_(std::move(file)), header_(std::move(header)) {}

Tensor SafetensorsFile::tensor(const TensorEntry& entry) const {
  if (entry.offset > file_->size() || entry.bytes > file_->size() - entry.offset) {
    fail(ALLOY_ERR_INTERNAL, "{}: tensor '{}' lies outside the file", path(), entry.name);
  }
  auto buffer = std::make_shared<MappedBuffer>(file_, entry.offset, entry.bytes);
  return Tensor(entry.dtype, entry.shape, std::move(buffer));
}

void SafetensorsFile::check_intact() const {
  if (!file_->damaged()) return;
  const uint64_t at = file_->damaged_at();
  std::string what = "its header";
  for (const TensorEntry& entry : header_.tensors) {
    if (at < entry.offset + entry.bytes) {
      what = fmt::format("tensor '{}' (bytes {} to {})", entry.name, entry.offset,
                         entry.offset + entry.bytes);
      break;
    }
  }
  fail(ALLOY_ERR_IO,
       "{}: the file shrank while alloy was reading it: {} could not be read past byte {} of "
       "the {} bytes it had when opened. Was it modified during the merge? Nothing was written",
       path(), what, at, file_->size());
}

}  // namespace alloy
