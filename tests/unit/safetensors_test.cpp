// The safetensors reader: mapping files, reading every dtype zero-copy, and rejecting every
// malformed header with a message that names the file and the tensor at fault.
#include "io/safetensors.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "error.hpp"
#include "io/mapped_file.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using test::RawTensor;
using test::TempDir;
using ::testing::HasSubstr;

// The message of the ALLOY_ERR_IO error opening `path` throws; fails the test if none.
std::string open_error(const std::string& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), ALLOY_ERR_IO);
    return e.what();
  }
  ADD_FAILURE() << path << " opened without error";
  return {};
}

std::vector<uint8_t> random_bytes(std::size_t count, uint32_t seed) {
  std::vector<uint8_t> bytes;
  for (const float f : test::random_floats(count, seed, 0.0f, 256.0f)) {
    bytes.push_back(static_cast<uint8_t>(f));
  }
  return bytes;
}

// Six elements of `dtype` with plausible contents.
RawTensor sample(DType dtype, uint32_t seed) {
  const std::vector<float> values = test::random_floats(6, seed);
  std::vector<uint8_t> bytes;
  switch (dtype) {
    case DType::F32:
      bytes = test::as_bytes(values);
      break;
    case DType::F16:
      bytes = test::f16_bytes(values);
      break;
    case DType::BF16:
      bytes = test::bf16_bytes(values);
      break;
    case DType::BOOL:
      bytes = {1, 0, 0, 1, 1, 0};
      break;
    default:
      bytes = random_bytes(6 * dtype_size(dtype), seed);
  }
  return {std::string("t_") + dtype_name(dtype), dtype_name(dtype), {2, 3}, bytes};
}

bool points_into(const Tensor& tensor, const MappedFile& file) {
  const char* p = static_cast<const char*>(tensor.data());
  return p >= file.data() && p + tensor.nbytes() <= file.data() + file.size();
}

TEST(SafetensorsFile, ReadsEveryDtypeAsStored) {
  TempDir dir;
  std::vector<RawTensor> raw;
  const DType all[] = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64,
                       DType::I32, DType::I16, DType::I8,   DType::U8,  DType::BOOL};
  for (const DType dtype : all) raw.push_back(sample(dtype, static_cast<uint32_t>(raw.size())));
  test::write_safetensors(dir.file("all.safetensors"), raw);

  const auto file = SafetensorsFile::open(dir.file("all.safetensors"));
  const auto& tensors = file->header().tensors;
  ASSERT_EQ(tensors.size(), raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    SCOPED_TRACE(raw[i].name);
    EXPECT_EQ(tensors[i].name, raw[i].name);
    EXPECT_EQ(tensors[i].dtype, all[i]);
    EXPECT_EQ(tensors[i].shape, (Shape{2, 3}));
    ASSERT_EQ(tensors[i].bytes, raw[i].bytes.size());
    const Tensor t = file->tensor(tensors[i]);
    EXPECT_EQ(t.dtype(), all[i]);
    EXPECT_EQ(t.numel(), 6u);
    EXPECT_FALSE(t.writable());
    EXPECT_EQ(t.device().device_type, kDLCPU);
    EXPECT_EQ(std::memcmp(t.data(), raw[i].bytes.data(), raw[i].bytes.size()), 0);
  }
}

TEST(SafetensorsFile, TensorsAreZeroCopyViewsOfTheMapping) {
  TempDir dir;
  test::write_safetensors(dir.file("m.safetensors"), {sample(DType::F32, 1), sample(DType::U8, 2)});
  const auto file = SafetensorsFile::open(dir.file("m.safetensors"));
  for (const TensorEntry& entry : file->header().tensors) {
    const Tensor t = file->tensor(entry);
    EXPECT_TRUE(points_into(t, file->mapped()));
    EXPECT_EQ(static_cast<const char*>(t.data()), file->mapped().data() + entry.offset);
  }
}

TEST(SafetensorsFile, TensorKeepsTheMappingAlive) {
  TempDir dir;
  const RawTensor raw = sample(DType::F32, 3);
  test::write_safetensors(dir.file("m.safetensors"), {raw});
  Tensor t;
  {
    const auto file = SafetensorsFile::open(dir.file("m.safetensors"));
    t = file->tensor(file->header().tensors[0]);
  }
  EXPECT_EQ(std::memcmp(t.data(), raw.bytes.data(), raw.bytes.size()), 0);
}

TEST(SafetensorsFile, ReadsZeroSizeAndScalarTensors) {
  TempDir dir;
  test::write_safetensors(dir.file("z.safetensors"),
                          {{"empty", "F32", {0, 4}, {}},
                           {"scalar", "F32", {}, test::as_bytes(std::vector<float>{2.5f})},
                           {"empty_last", "BF16", {3, 0}, {}}});
  const auto file = SafetensorsFile::open(dir.file("z.safetensors"));
  const auto& tensors = file->header().tensors;
  ASSERT_EQ(tensors.size(), 3u);
  EXPECT_EQ(tensors[0].name, "empty");
  EXPECT_EQ(tensors[1].name, "scalar");
  EXPECT_EQ(tensors[2].name, "empty_last");
  EXPECT_EQ(file->tensor(tensors[0]).numel(), 0u);
  EXPECT_EQ(*file->tensor(tensors[1]).data_as<float>(), 2.5f);
  EXPECT_EQ(file->tensor(tensors[2]).nbytes(), 0u);
}

TEST(SafetensorsFile, ReadsMetadata) {
  TempDir dir;
  test::write_safetensors(dir.file("m.safetensors"), {sample(DType::F32, 4)},
                          {{"format", "pt"}, {"note", "merged"}});
  const auto file = SafetensorsFile::open(dir.file("m.safetensors"));
  EXPECT_EQ(file->header().metadata,
            (std::map<std::string, std::string>{{"format", "pt"}, {"note", "merged"}}));
}

TEST(SafetensorsFile, ListsTensorsInDataOrderWithAbsoluteOffsets) {
  TempDir dir;
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  test::write_raw_safetensors(dir.file("o.safetensors"), header, std::vector<uint8_t>(8));
  const auto file = SafetensorsFile::open(dir.file("o.safetensors"));
  const auto& tensors = file->header().tensors;
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].name, "b");
  EXPECT_EQ(tensors[1].name, "a");
  EXPECT_EQ(file->header().data_start, 8 + header.size());
  EXPECT_EQ(tensors[0].offset, file->header().data_start);
  EXPECT_EQ(tensors[1].offset, file->header().data_start + 4);
}

TEST(SafetensorsFile, AcceptsHeaderPaddedWithSpaces) {
  TempDir dir;
  const std::string header = R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  test::write_raw_safetensors(dir.file("p.safetensors"), header + "       ", {7, 9});
  const auto file = SafetensorsFile::open(dir.file("p.safetensors"));
  ASSERT_EQ(file->header().tensors.size(), 1u);
  EXPECT_EQ(file->tensor(file->header().tensors[0]).data_as<uint8_t>()[1], 9);
}

TEST(SafetensorsFile, ReadsAFileWithoutTensors) {
  TempDir dir;
  test::write_raw_safetensors(dir.file("e.safetensors"), "{}", {});
  EXPECT_TRUE(SafetensorsFile::open(dir.file("e.safetensors"))->header().tensors.empty());
}

TEST(SafetensorsFile, ParsesAHeaderInMemory) {
  std::string bytes(8, '\0');
  const std::string json = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  bytes[0] = static_cast<char>(json.size());
  bytes += json + "x";
  const SafetensorsHeader header =
      parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), "memory");
  ASSERT_EQ(header.tensors.size(), 1u);
  EXPECT_EQ(header.tensors[0].offset, bytes.size() - 1);
  try {
    parse_safetensors_header(bytes.data(), 20, bytes.size(), "memory");
    ADD_FAILURE() << "a truncated buffer was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("memory: only 20 bytes"));
  }
}

TEST(SafetensorsFile, RejectsEmptyAndShortFiles) {
  TempDir dir;
  test::write_text(dir.file("empty.safetensors"), "");
  EXPECT_THAT(open_error(dir.file("empty.safetensors")),
              HasSubstr("empty.safetensors: file has 0 bytes"));
  test::write_text(dir.file("short.safetensors"), "abcd");
  EXPECT_THAT(open_error(dir.file("short.safetensors")),
              HasSubstr("short.safetensors: file has 4 bytes"));
}

TEST(SafetensorsFile, RejectsHeaderLengthOverTheLimit) {
  TempDir dir;
  std::string length(8, '\0');
  const uint64_t n = kMaxSafetensorsHeader + 1;
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  test::write_text(dir.file("huge.safetensors"), length);
  const std::string message = open_error(dir.file("huge.safetensors"));
  EXPECT_THAT(message, HasSubstr("huge.safetensors"));
  EXPECT_THAT(message, HasSubstr("exceeds the limit"));
}

TEST(SafetensorsFile, RejectsHeaderLengthPastTheEnd) {
  TempDir dir;
  std::string bytes(8, '\0');
  bytes[0] = 100;
  test::write_text(dir.file("cut.safetensors"), bytes + "{}");
  EXPECT_THAT(
      open_error(dir.file("cut.safetensors")),
      HasSubstr("cut.safetensors: header length 100 runs past the end of the 10-byte file"));
}

TEST(SafetensorsMappedFile, NamesTheMissingFileAndTheReason) {
  TempDir dir;
  try {
    MappedFile::open(dir.file("missing.safetensors"));
    ADD_FAILURE() << "a missing file was opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), ALLOY_ERR_IO);
    EXPECT_THAT(e.what(), HasSubstr(dir.file("missing.safetensors")));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
}

TEST(SafetensorsMappedFile, RejectsAFolder) {
  TempDir dir;
  try {
    MappedFile::open(dir.path());
    ADD_FAILURE() << "a folder was mapped";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a regular file"));
  }
}

TEST(SafetensorsMappedFile, MapsAnEmptyFile) {
  TempDir dir;
  test::write_text(dir.file("empty"), "");
  const auto file = MappedFile::open(dir.file("empty"));
  EXPECT_EQ(file->size(), 0u);
  file->prefetch(0, 0);
  file->release(0, 0);
}

TEST(SafetensorsMappedFile, ReleasedPagesReadBackFromTheFile) {
  TempDir dir;
  std::string text(3 * 4096 + 100, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7);
  test::write_text(dir.file("pages"), text);
  const auto file = MappedFile::open(dir.file("pages"));
  ASSERT_EQ(file->size(), text.size());
  file->prefetch(4095, 2);
  EXPECT_EQ(std::memcmp(file->data(), text.data(), text.size()), 0);
  file->release(100, 5000);
  file->release(0, text.size());
  EXPECT_EQ(std::memcmp(file->data(), text.data(), text.size()), 0);
  EXPECT_THROW(file->release(text.size() - 1, 2), Error);
}

// One malformed header: the file's bytes and what its error message must contain.
struct Malformed {
  const char* label;  // also the file name
  std::string header;
  std::size_t data_bytes;
  std::vector<std::string> expected;
};

class SafetensorsMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(SafetensorsMalformed, IsRejectedNamingFileAndTensor) {
  const Malformed& c = GetParam();
  TempDir dir;
  const std::string name = std::string(c.label) + ".safetensors";
  test::write_raw_safetensors(dir.file(name), c.header, std::vector<uint8_t>(c.data_bytes));
  const std::string message = open_error(dir.file(name));
  EXPECT_THAT(message, HasSubstr(name));
  for (const std::string& part : c.expected) EXPECT_THAT(message, HasSubstr(part));
}

// A one-tensor header for tensor "w" with the given JSON members.
std::string w(const std::string& members) { return R"({"w":{)" + members + "}}"; }

const Malformed kMalformed[] = {
    {"broken_json", R"({"w": )", 0, {"not valid JSON", "parse error"}},
    {"top_level_array", "[1, 2]", 0, {"header is not a JSON object"}},
    {"entry_not_object", R"({"w": 3})", 0, {"tensor 'w'", "not an object"}},
    {"missing_dtype", w(R"("shape":[1],"data_offsets":[0,4])"), 4, {"tensor 'w'", "no \"dtype\""}},
    {"dtype_not_string",
     w(R"("dtype":5,"shape":[1],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "dtype 5 is not a string"}},
    {"unknown_dtype",
     w(R"("dtype":"Q4","shape":[1],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "unknown dtype 'Q4'"}},
    {"missing_shape",
     w(R"("dtype":"F32","data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "no \"shape\""}},
    {"shape_not_array",
     w(R"("dtype":"F32","shape":4,"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "shape 4 is not an array"}},
    {"negative_dim",
     w(R"("dtype":"F32","shape":[2,-1],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "dimension -1 that is not a non-negative"}},
    {"fractional_dim",
     w(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "dimension 2.5"}},
    {"string_dim",
     w(R"("dtype":"F32","shape":["2"],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "dimension \"2\""}},
    {"numel_overflow",
     w(R"("dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "overflows 64 bits"}},
    {"bytes_overflow",
     w(R"("dtype":"F32","shape":[4611686018427387904,2],"data_offsets":[0,4])"),
     4,
     {"tensor 'w'", "byte count", "overflows 64 bits"}},
    {"missing_offsets",
     w(R"("dtype":"F32","shape":[1])"),
     4,
     {"tensor 'w'", "no \"data_offsets\""}},
    {"three_offsets",
     w(R"("dtype":"F32","shape":[1],"data_offsets":[0,4,8])"),
     8,
     {"tensor 'w'", "is not [begin, end]"}},
    {"negative_offset",
     w(R"("dtype":"F32","shape":[1],"data_offsets":[-4,0])"),
     4,
     {"tensor 'w'", "is not [begin, end]"}},
    {"reversed_offsets",
     w(R"("dtype":"F32","shape":[0],"data_offsets":[8,4])"),
     8,
     {"tensor 'w'", "end before they begin"}},
    {"byte_count_mismatch",
     w(R"("dtype":"F32","shape":[2,3],"data_offsets":[0,20])"),
     20,
     {"tensor 'w'", "shape [2, 3] of F32 needs 24 bytes but data_offsets span 20"}},
    {"past_the_end",
     w(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"),
     4,
     {"tensor 'w'", "run past the end of the 4-byte data area"}},
    {"gap_at_start",
     w(R"("dtype":"F32","shape":[1],"data_offsets":[4,8])"),
     8,
     {"gap of 4 bytes at the start", "tensor 'w'"}},
    {"gap_between",
     R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
     12,
     {"gap of 4 bytes between tensor 'a'", "tensor 'b'"}},
    {"overlap",
     R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
     8,
     {"tensor 'b'", "overlaps tensor 'a'"}},
    {"trailing_bytes",
     w(R"("dtype":"F32","shape":[1],"data_offsets":[0,4])"),
     8,
     {"the last 4 bytes belong to no tensor"}},
    {"empty_name",
     R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
     4,
     {"a tensor name is empty"}},
    {"control_name",
     R"({"a\u0001b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
     4,
     {"tensor name 'a\\x01b' contains a control character"}},
    {"newline_name",
     R"({"a\nb":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
     4,
     {"'a\\x0ab'", "control character"}},
    {"delete_name",
     R"({"a\u007f":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
     4,
     {"'a\\x7f'", "control character"}},
    {"slash_name",
     R"({"../../etc/w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
     4,
     {"tensor name '../../etc/w' contains a path separator"}},
    {"backslash_name",
     R"({"a\\b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
     4,
     {"tensor name 'a\\b' contains a path separator"}},
    {"duplicate_name",
     R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
     R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
     8,
     {"tensor 'w' is listed twice"}},
    {"metadata_not_object", R"({"__metadata__":[1]})", 0, {"__metadata__ is not an object"}},
    {"metadata_not_string",
     R"({"__metadata__":{"epochs":3}})",
     0,
     {"__metadata__ entry 'epochs' is 3, not a string"}},
    // Found fuzzing: printing a value nested this deep in a message overflowed the stack.
    {"deep_nesting",
     w(R"("dtype":"F32","shape":)" + std::string(200000, '[') + std::string(200000, ']') +
       R"(,"data_offsets":[0,0])"),
     0,
     {"header nests JSON values more than 64 deep"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, SafetensorsMalformed, ::testing::ValuesIn(kMalformed),
                         [](const auto& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace alloy
