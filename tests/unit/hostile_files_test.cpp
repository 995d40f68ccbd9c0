// Files that lie or change under alloy's feet: a header too large to be honest, and a file
// truncated after it was mapped, which must not kill the process with SIGBUS.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "error.hpp"
#include "error_of.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include "io/sigbus_guard.hpp"
#include "tensor/registry.hpp"
#include "test_files.hpp"

namespace alloy {
namespace {

using test::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kPage = 4096;

// Sums every byte so that the compiler cannot skip the reads.
uint64_t touch_all(const char* data, uint64_t size) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < size; ++i) sum += static_cast<unsigned char>(data[i]);
  return sum;
}

TEST(HostileFiles, AHundredMegabyteHeaderIsRefusedBeforeItIsParsed) {
  TempDir dir;
  const std::string path = dir.file("bloated.safetensors");
  // A real header of limit + 1 bytes (a metadata string), not just a length that claims it.
  const uint64_t length = kMaxSafetensorsHeader + 1;
  std::string header = R"({"__metadata__":{"pad":")";
  header += std::string(length - header.size() - 3, 'x');
  header += "\"}}";
  ASSERT_EQ(header.size(), length);
  test::write_raw_safetensors(path, header, {});
  const std::string message = test::error_of([&] { SafetensorsFile::open(path); });
  EXPECT_THAT(message, AllOf(HasSubstr("bloated.safetensors"), HasSubstr("exceeds the limit")));
}

TEST(HostileFiles, ReadsPastATruncationSeeZerosAndAreRecorded) {
  TempDir dir;
  const std::string path = dir.file("shrinking");
  test::write_text(path, std::string(4 * kPage, '\x7'));
  const auto file = MappedFile::open(path);
  EXPECT_FALSE(file->damaged());
  ASSERT_EQ(::truncate(path.c_str(), kPage + 10), 0);
  // Without the guard this read raises SIGBUS on the third page and kills the test.
  const uint64_t sum = touch_all(file->data(), file->size());
  EXPECT_EQ(sum, (kPage + 10) * 7);  // the bytes still in the file, then zeros
  ASSERT_TRUE(file->damaged());
  EXPECT_EQ(file->damaged_at(), 2 * kPage);  // the first page wholly past the new end
}

TEST(HostileFiles, TruncationIsReportedNamingFileAndTensor) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::vector<float> ones(kPage / 4, 1.0f);  // one page a tensor
  test::write_safetensors(path, {{"first", "F32", {1024}, test::as_bytes(ones)},
                                 {"second", "F32", {1024}, test::as_bytes(ones)},
                                 {"third", "F32", {1024}, test::as_bytes(ones)}});
  Registry registry;
  registry.add_model("m", path, ALLOY_ROLE_MODEL);
  const Model& model = registry.model(0);
  const Tensor third = model.read("third");
  registry.check_intact();  // nothing happened yet
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  EXPECT_EQ(touch_all(static_cast<const char*>(third.data()), third.nbytes()), 0u);
  const std::string message = test::error_of([&] { registry.check_intact(); });
  EXPECT_THAT(message,
              AllOf(HasSubstr("model.safetensors: the file shrank while alloy was reading it"),
                    HasSubstr("tensor 'third'"), HasSubstr("modified during the merge")));
}

TEST(HostileFiles, ASigbusOutsideWatchedFilesStillKills) {
  // The guard must not swallow faults it does not own: a mapping made behind its back.
  TempDir dir;
  const std::string path = dir.file("unwatched");
  test::write_text(path, std::string(2 * kPage, 'a'));
  const auto watched = MappedFile::open(path);  // installs the handler
  EXPECT_EXIT(
      {
        const int fd = ::open(path.c_str(), O_RDONLY);
        void* data = ::mmap(nullptr, 2 * kPage, PROT_READ, MAP_PRIVATE, fd, 0);
        if (::ftruncate(::open(path.c_str(), O_WRONLY), 0) != 0) std::_Exit(3);
        std::_Exit(static_cast<int>(touch_all(static_cast<const char*>(data), 2 * kPage) & 1));
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace alloy
