// alloy-read-bytes FILE...: reads every byte of the files with read(2) and prints GB/s; the
// baseline a merge's input throughput is compared with (the same bytes, no compute).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  std::vector<char> buffer(8 << 20);
  uint64_t total = 0;
  uint64_t checksum = 0;  // keeps the reads from being optimised away
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i < argc; ++i) {
    const int fd = open(argv[i], O_RDONLY);
    if (fd < 0) {
      std::perror(argv[i]);
      return 1;
    }
    ssize_t n;
    while ((n = read(fd, buffer.data(), buffer.size())) > 0) {
      total += static_cast<uint64_t>(n);
      for (ssize_t j = 0; j < n; j += 4096) checksum += static_cast<unsigned char>(buffer[j]);
    }
    close(fd);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("read %.3f GB in %.3f s: %.2f GB/s (checksum %llu)\n", total / 1e9, seconds,
              total / 1e9 / seconds, static_cast<unsigned long long>(checksum));
  return 0;
}
