// The safetensors writer: round trips through the reader, sharding by size with a Hugging Face
// index, atomic output (nothing left behind on failure), overwrite, and concurrent writes.
#include "io/safetensors_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "error_of.hpp"
#include "io/safetensors.hpp"
#include "tensor/registry.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The names in a folder, sorted.
std::vector<std::string> listing(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& item : fs::directory_iterator(folder)) {
    names.push_back(item.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Output {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

Output f32(const std::string& name, Shape shape, uint32_t seed) {
  return {name, DType::F32, shape, test::as_bytes(test::random_floats(shape_numel(shape), seed))};
}

void declare_all(SafetensorsWriter& writer, const std::vector<Output>& outputs) {
  for (const Output& o : outputs) writer.declare(o.name, o.dtype, o.shape);
}

void write_all(SafetensorsWriter& writer, const std::vector<Output>& outputs) {
  for (const Output& o : outputs) writer.write(o.name, o.bytes.data(), o.bytes.size());
}

// Reads the model back through the registry and compares every tensor.
void expect_model(const std::string& path, const std::vector<Output>& outputs) {
  const Model model("out", path, 0);
  ASSERT_EQ(model.tensors().size(), outputs.size());
  for (const Output& o : outputs) {
    SCOPED_TRACE(o.name);
    const TensorEntry* entry = model.find(o.name);
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->dtype, o.dtype);
    EXPECT_EQ(entry->shape, o.shape);
    ASSERT_EQ(entry->bytes, o.bytes.size());
    const auto stored = model.read(o.name);
    // An empty tensor's data() may be null, which memcmp must not see even for zero bytes.
    if (!o.bytes.empty()) {
      EXPECT_EQ(std::memcmp(stored.data(), o.bytes.data(), o.bytes.size()), 0);
    }
  }
}

TEST(WriterRoundTrip, WritesEveryDtypeToOneFile) {
  TempDir dir;
  const std::vector<float> values = test::random_floats(6, 7);
  const std::vector<Output> outputs{
      {"f32", DType::F32, {2, 3}, test::as_bytes(values)},
      {"f16", DType::F16, {3, 2}, test::f16_bytes(values)},
      {"bf16", DType::BF16, {6}, test::bf16_bytes(values)},
      {"i64", DType::I64, {2}, test::as_bytes(std::vector<int64_t>{-5, 1ll << 40})},
      {"u8", DType::U8, {3}, {1, 2, 255}},
      {"mask", DType::BOOL, {4}, {1, 0, 0, 1}},
      {"empty", DType::F32, {0, 8}, {}},
  };
  const std::string target = dir.file("out");
  {
    SafetensorsWriter writer(target, {});
    declare_all(writer, outputs);
    EXPECT_TRUE(writer.declared("f16"));
    EXPECT_FALSE(writer.declared("nope"));
    EXPECT_EQ(writer.declared_dtype("bf16"), DType::BF16);
    EXPECT_EQ(writer.declared_shape("f16"), (Shape{3, 2}));
    EXPECT_EQ(writer.names().size(), outputs.size());
    write_all(writer, outputs);
    writer.finish();
    EXPECT_EQ(writer.target(), target);
  }
  EXPECT_THAT(listing(dir.path()), ElementsAre("out"));
  EXPECT_THAT(listing(target), ElementsAre("model.safetensors"));
  expect_model(target, outputs);
  // Declaration order is data order.
  const auto file = SafetensorsFile::open(target + "/model.safetensors");
  EXPECT_EQ(file->header().tensors[0].name, "f32");
  EXPECT_EQ(file->header().tensors[6].name, "empty");
}

TEST(WriterRoundTrip, WritesInAnyOrderAndKeepsMetadata) {
  TempDir dir;
  const std::vector<Output> outputs{f32("a", {5}, 1), f32("b", {2, 2}, 2), f32("c", {3}, 3)};
  WriterOptions options;
  options.metadata = {{"merged_by", "alloy"}};
  SafetensorsWriter writer(dir.file("out"), options);
  declare_all(writer, outputs);
  for (auto o = outputs.rbegin(); o != outputs.rend(); ++o) {
    writer.write(o->name, o->bytes.data(), o->bytes.size());
  }
  writer.finish();
  expect_model(dir.file("out"), outputs);
  const auto file = SafetensorsFile::open(dir.file("out/model.safetensors"));
  EXPECT_EQ(file->header().metadata,
            (std::map<std::string, std::string>{{"format", "pt"}, {"merged_by", "alloy"}}));
  // The header is padded so that the data starts 8-byte aligned.
  EXPECT_EQ(file->header().data_start % 8, 0u);
}

TEST(WriterRoundTrip, WritesAModelWithoutTensors) {
  TempDir dir;
  SafetensorsWriter writer(dir.file("out"), {});
  writer.finish();
  EXPECT_TRUE(SafetensorsFile::open(dir.file("out/model.safetensors"))->header().tensors.empty());
}

TEST(WriterRoundTrip, AcceptsATargetWithATrailingSlash) {
  TempDir dir;
  SafetensorsWriter writer(dir.file("out/"), {});
  writer.finish();
  EXPECT_EQ(writer.target(), dir.file("out"));
  EXPECT_TRUE(fs::is_regular_file(dir.file("out/model.safetensors")));
}

TEST(WriterSharding, SplitsBySizeAndWritesAnIndex) {
  TempDir dir;
  const std::vector<Output> outputs{f32("x.0", {10}, 1), f32("x.1", {10}, 2), f32("x.2", {10}, 3)};
  WriterOptions options;
  options.max_shard_bytes = 100;
  SafetensorsWriter writer(dir.file("out"), options);
  declare_all(writer, outputs);
  write_all(writer, outputs);
  writer.finish();

  EXPECT_THAT(listing(dir.file("out")),
              ElementsAre("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                          "model.safetensors.index.json"));
  const auto index =
      nlohmann::json::parse(test::read_text(dir.file("out/model.safetensors.index.json")));
  EXPECT_TRUE(index["metadata"]["total_size"].is_number());
  EXPECT_EQ(index["metadata"]["total_size"], 120);
  EXPECT_EQ(index["weight_map"], (nlohmann::json{{"x.0", "model-00001-of-00002.safetensors"},
                                                 {"x.1", "model-00001-of-00002.safetensors"},
                                                 {"x.2", "model-00002-of-00002.safetensors"}}));
  EXPECT_EQ(SafetensorsFile::open(dir.file("out/model-00001-of-00002.safetensors"))
                ->header()
                .tensors.size(),
            2u);
  expect_model(dir.file("out"), outputs);
}

TEST(WriterSharding, GivesAnOversizedTensorAShardOfItsOwn) {
  TempDir dir;
  const std::vector<Output> outputs{f32("small.0", {10}, 1), f32("big", {50}, 2),
                                    f32("small.1", {10}, 3), f32("small.2", {10}, 4)};
  WriterOptions options;
  options.max_shard_bytes = 100;
  SafetensorsWriter writer(dir.file("out"), options);
  declare_all(writer, outputs);
  write_all(writer, outputs);
  writer.finish();
  const Model model("out", dir.file("out"), 0);
  EXPECT_EQ(model.files().size(), 3u);
  EXPECT_THAT(model.file_of("small.0"), HasSubstr("model-00001-of-00003.safetensors"));
  EXPECT_THAT(model.file_of("big"), HasSubstr("model-00002-of-00003.safetensors"));
  EXPECT_THAT(model.file_of("small.1"), HasSubstr("model-00003-of-00003.safetensors"));
  EXPECT_THAT(model.file_of("small.2"), HasSubstr("model-00003-of-00003.safetensors"));
  expect_model(dir.file("out"), outputs);
}

TEST(WriterConcurrency, TwoThreadsWriteOneValidModel) {
  TempDir dir;
  std::vector<Output> outputs;
  for (uint32_t i = 0; i < 64; ++i) {
    outputs.push_back(f32("layer." + std::to_string(i), {int64_t{1} + i % 7, 33}, i));
  }
  WriterOptions options;
  options.max_shard_bytes = 4096;
  SafetensorsWriter writer(dir.file("out"), options);
  declare_all(writer, outputs);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < outputs.size(); i += 2) {
        writer.write(outputs[i].name, outputs[i].bytes.data(), outputs[i].bytes.size());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  writer.finish();
  expect_model(dir.file("out"), outputs);
}

TEST(WriterAtomic, MissingOutputFailsFinishAndLeavesNothing) {
  TempDir dir;
  SafetensorsWriter writer(dir.file("out"), {});
  writer.declare("done", DType::F32, {1});
  writer.declare("forgotten", DType::F32, {1});
  const float value = 1.0f;
  writer.write("done", &value, 4);
  EXPECT_THAT(error_of([&] { writer.finish(); }, ALLOY_ERR_NOT_FOUND),
              HasSubstr("output tensor 'forgotten' was declared but never written"));
  EXPECT_TRUE(listing(dir.path()).empty());
  EXPECT_THROW(writer.finish(), Error);
}

TEST(WriterAtomic, DestroyingWithoutFinishLeavesNothing) {
  TempDir dir;
  {
    SafetensorsWriter writer(dir.file("out"), {});
    writer.declare("w", DType::F32, {1});
    const float value = 1.0f;
    writer.write("w", &value, 4);
    EXPECT_EQ(listing(dir.path()).size(), 1u);  // the temporary folder
  }
  EXPECT_TRUE(listing(dir.path()).empty());
}

TEST(WriterAtomic, RefusesAnExistingTarget) {
  TempDir dir;
  fs::create_directory(dir.file("out"));
  EXPECT_THAT(error_of([&] { SafetensorsWriter(dir.file("out"), {}); }, ALLOY_ERR_IO),
              HasSubstr(dir.file("out") + " already exists"));
  EXPECT_THAT(listing(dir.path()), ElementsAre("out"));
}

TEST(WriterAtomic, FailsWhenTheParentIsMissing) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { SafetensorsWriter(dir.file("no/out"), {}); }, ALLOY_ERR_IO),
              HasSubstr(dir.file("no/out.tmp-")));
}

TEST(WriterAtomic, OverwriteReplacesTheOldOutput) {
  TempDir dir;
  fs::create_directory(dir.file("out"));
  test::write_text(dir.file("out/stale.txt"), "old");
  WriterOptions options;
  options.overwrite = true;
  const std::vector<Output> outputs{f32("w", {4}, 1)};
  {
    SafetensorsWriter writer(dir.file("out"), options);
    declare_all(writer, outputs);
    write_all(writer, outputs);
    // The old output stays untouched until finish.
    EXPECT_TRUE(fs::exists(dir.file("out/stale.txt")));
    writer.finish();
  }
  EXPECT_THAT(listing(dir.path()), ElementsAre("out"));
  EXPECT_THAT(listing(dir.file("out")), ElementsAre("model.safetensors"));
  expect_model(dir.file("out"), outputs);
}

TEST(WriterAtomic, FailedOverwriteKeepsTheOldOutput) {
  TempDir dir;
  fs::create_directory(dir.file("out"));
  test::write_text(dir.file("out/stale.txt"), "old");
  WriterOptions options;
  options.overwrite = true;
  {
    SafetensorsWriter writer(dir.file("out"), options);
    writer.declare("w", DType::F32, {1});
  }
  EXPECT_THAT(listing(dir.path()), ElementsAre("out"));
  EXPECT_THAT(listing(dir.file("out")), ElementsAre("stale.txt"));
}

TEST(WriterSideFile, CopiesFilesBesideTheShards) {
  TempDir dir;
  test::write_text(dir.file("config.json"), R"({"hidden_size": 8})");
  SafetensorsWriter writer(dir.file("out"), {});
  writer.add_side_file(dir.file("config.json"));
  EXPECT_THAT(error_of([&] { writer.add_side_file(dir.file("config.json")); }, ALLOY_ERR_IO),
              HasSubstr("config.json"));
  EXPECT_THAT(error_of([&] { writer.add_side_file(dir.file("missing.txt")); }, ALLOY_ERR_IO),
              HasSubstr("missing.txt"));
  test::write_text(dir.file("extra.safetensors"), "");
  EXPECT_THAT(error_of([&] { writer.add_side_file(dir.file("extra.safetensors")); },
                       ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("looks like model weights"));
  writer.finish();
  EXPECT_THAT(listing(dir.file("out")), ElementsAre("config.json", "model.safetensors"));
  EXPECT_EQ(test::read_text(dir.file("out/config.json")), R"({"hidden_size": 8})");
}

TEST(WriterErrors, RejectsBadDeclarations) {
  TempDir dir;
  SafetensorsWriter writer(dir.file("out"), {});
  writer.declare("w", DType::F32, {2});
  EXPECT_THAT(error_of([&] { writer.declare("w", DType::F32, {2}); }, ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("output tensor 'w' is declared twice"));
  EXPECT_THAT(error_of([&] { writer.declare("", DType::F32, {2}); }, ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("a tensor name is empty"));
  EXPECT_THAT(
      error_of([&] { writer.declare("a\tb", DType::F32, {2}); }, ALLOY_ERR_INVALID_ARGUMENT),
      HasSubstr("'a\\x09b' contains a control character"));
  EXPECT_THAT(error_of([&] { writer.declare("__metadata__", DType::F32, {2}); },
                       ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("reserved"));
  EXPECT_THAT(error_of(
                  [&] {
                    writer.declare("neg", DType::F32, {2, -1});
                  },
                  ALLOY_ERR_SHAPE),
              HasSubstr("output tensor 'neg'"));
  EXPECT_THAT(error_of(
                  [&] {
                    writer.declare("huge", DType::F32, {int64_t{1} << 62, 4});
                  },
                  ALLOY_ERR_SHAPE),
              HasSubstr("output tensor 'huge'"));
  EXPECT_THAT(error_of([&] { writer.declared_shape("nope"); }, ALLOY_ERR_NOT_FOUND),
              HasSubstr("'nope'"));
}

TEST(WriterErrors, RejectsBadWrites) {
  TempDir dir;
  SafetensorsWriter writer(dir.file("out"), {});
  writer.declare("w", DType::F32, {2, 3});
  const std::vector<float> values(6, 1.0f);
  EXPECT_THAT(error_of([&] { writer.write("nope", values.data(), 24); }, ALLOY_ERR_NOT_FOUND),
              HasSubstr("output tensor 'nope' was not declared"));
  EXPECT_THAT(error_of([&] { writer.write("w", values.data(), 20); }, ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("output tensor 'w' is F32 [2, 3]: expected 24 bytes, got 20"));
  writer.write("w", values.data(), 24);
  EXPECT_THAT(error_of([&] { writer.write("w", values.data(), 24); }, ALLOY_ERR_INVALID_ARGUMENT),
              HasSubstr("output tensor 'w' is written twice"));
  EXPECT_THAT(
      error_of([&] { writer.declare("late", DType::F32, {1}); }, ALLOY_ERR_INVALID_ARGUMENT),
      HasSubstr("cannot declare output tensor 'late': writing has begun"));
  writer.finish();
  EXPECT_THROW(writer.write("w", values.data(), 24), Error);
}

}  // namespace
}  // namespace alloy
