#include "io/safetensors_writer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "io/file_io.hpp"
#include "io/safetensors.hpp"

namespace alloy {

namespace fs = std::filesystem;
using nlohmann::json;

struct SafetensorsWriter::Slot {
  enum class State { pending, writing, written };
  DType dtype;
  Shape shape;
  uint64_t bytes;
  std::size_t shard = 0;
  uint64_t offset = 0;  // absolute, in the shard file
  State state = State::pending;
};

namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";

// Distinguishes the temporary folders of concurrent or crashed runs beside one target.
std::string unique_suffix() { return fmt::format("{}-{:08x}", ::getpid(), std::random_device()()); }

std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string parent_of(const std::string& path) {
  const std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// The temporary folders of `target` whose writer ran as a process accepted by `matches`.
template <typename PidFilter>
int remove_partial_outputs_if(const std::string& target, PidFilter matches) {
  const fs::path path(target);
  const std::string prefix = path.filename().string() + ".tmp-";
  std::error_code error;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(parent_of(target), error)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '-' || !matches(static_cast<pid_t>(pid))) continue;
    std::error_code ignored;  // best effort: it is garbage either way
    if (fs::remove_all(entry.path(), ignored) > 0) ++removed;
  }
  return removed;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The 8-byte length and the JSON header, padded with spaces so the data starts 8-byte aligned.
std::string shard_prefix(const json& header) {
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return prefix + text;
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(std::string target_dir, WriterOptions options)
    : target_(without_trailing_slashes(std::move(target_dir))), options_(std::move(options)) {
  if (target_.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "the output folder name is empty");
  std::error_code error;
  if (fs::exists(fs::symlink_status(target_, error)) && !options_.overwrite) {
    fail(ALLOY_ERR_IO, "output folder {} already exists (pass --force to replace it)", target_);
  }
  remove_stale_partial_outputs(target_);
  options_.metadata.emplace("format", "pt");  // Hugging Face's loaders expect it
  // Beside the target, so the final rename stays on one file system and is atomic.
  for (;;) {
    const std::string temp = target_ + ".tmp-" + unique_suffix();
    if (::mkdir(temp.c_str(), 0755) == 0) {
      temp_ = temp;
      return;
    }
    if (errno != EEXIST) {
      fail(ALLOY_ERR_IO, "cannot create temporary output folder {}: {}", temp,
           std::strerror(errno));
    }
  }
}

SafetensorsWriter::~SafetensorsWriter() { discard(); }

void SafetensorsWriter::discard() noexcept {
  for (const int fd : shard_fds_) {
    if (fd >= 0) ::close(fd);
  }
  shard_fds_.clear();
  if (temp_.empty()) return;
  std::error_code ignored;  // nothing better to do in a destructor than to try
  fs::remove_all(temp_, ignored);
  temp_.clear();
}

void SafetensorsWriter::declare(const std::string& name, DType dtype, const Shape& shape) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string problem = tensor_name_problem(name);
  if (!problem.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "cannot declare output: {}", problem);
  if (name == "__metadata__") {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "cannot declare output '__metadata__': the name is reserved");
  }
  if (frozen_) {
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "cannot declare output tensor '{}': writing has begun, so the layout is fixed", name);
  }
  if (slots_.count(name)) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "output tensor '{}' is declared twice", name);
  }
  uint64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const Error& e) {
    fail(e.status(), "output tensor '{}': {}", name, e.what());
  }
  if (numel > UINT64_MAX / dtype_size(dtype)) {
    fail(ALLOY_ERR_SHAPE, "output tensor '{}': byte count of shape {} of {} overflows 64 bits",
         name, shape_string(shape), dtype_name(dtype));
  }
  slots_.emplace(name, std::make_unique<Slot>(Slot{dtype, shape, numel * dtype_size(dtype)}));
  order_.push_back(name);
}

SafetensorsWriter::Slot& SafetensorsWriter::slot(const std::string& name) const {
  const auto it = slots_.find(name);
  if (it == slots_.end()) fail(ALLOY_ERR_NOT_FOUND, "output tensor '{}' was not declared", name);
  return *it->second;
}

bool SafetensorsWriter::declared(const std::string& name) const { return slots_.count(name) > 0; }

DType SafetensorsWriter::declared_dtype(const std::string& name) const { return slot(name).dtype; }

const Shape& SafetensorsWriter::declared_shape(const std::string& name) const {
  return slot(name).shape;
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (frozen_) {
    fail(ALLOY_ERR_UNSUPPORTED,
         "cannot set metadata '{}': writing has begun, so the headers are written", key);
  }
  options_.metadata[key] = value;
}

void SafetensorsWriter::freeze_layout() {
  // Greedy in declaration order, as Hugging Face shards: a tensor larger than the cap gets a
  // shard of its own.
  std::vector<std::vector<const std::string*>> shards(1);
  uint64_t used = 0;
  const uint64_t cap = options_.max_shard_bytes;
  for (const std::string& name : order_) {
    Slot& s = *slots_.at(name);
    if (!shards.back().empty() && (used > cap || s.bytes > cap - used)) {
      shards.emplace_back();
      used = 0;
    }
    s.shard = shards.size() - 1;
    shards.back().push_back(&name);
    used += s.bytes;
  }

  // Committed to the members only once every shard exists, so a failure here can be retried.
  std::vector<int> fds;
  std::vector<std::string> names;
  try {
    for (std::size_t i = 0; i < shards.size(); ++i) {
      json header = {{"__metadata__", options_.metadata}};
      uint64_t end = 0;
      for (const std::string* name : shards[i]) {
        Slot& s = *slots_.at(*name);
        header[*name] = {{"dtype", dtype_name(s.dtype)},
                         {"shape", s.shape},
                         {"data_offsets", {end, end + s.bytes}}};
        s.offset = end;
        end += s.bytes;
      }
      const std::string prefix = shard_prefix(header);
      for (const std::string* name : shards[i]) slots_.at(*name)->offset += prefix.size();

      names.push_back(shards.size() == 1 ? std::string("model.safetensors")
                                         : fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1,
                                                       shards.size()));
      const std::string path = temp_ + "/" + names.back();
      fds.push_back(create_file(path));
      // Full size now, so tensors can be written at their offsets in any order.
      if (::ftruncate(fds.back(), static_cast<off_t>(prefix.size() + end)) != 0) {
        fail(ALLOY_ERR_IO, "cannot size {}: {}", path, std::strerror(errno));
      }
      write_all(fds.back(), prefix.data(), prefix.size(), 0, "the header", path);
    }
  } catch (...) {
    for (const int fd : fds) ::close(fd);
    throw;
  }
  shard_fds_ = std::move(fds);
  shard_names_ = std::move(names);
  frozen_ = true;
}

void SafetensorsWriter::write(const std::string& name, const void* data, uint64_t bytes) {
  Slot* s = nullptr;
  int fd = -1;
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "output tensor '{}' written after finish", name);
    }
    s = &slot(name);
    if (s->state != Slot::State::pending) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "output tensor '{}' is written twice", name);
    }
    if (bytes != s->bytes) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "output tensor '{}' is {} {}: expected {} bytes, got {}",
           name, dtype_name(s->dtype), shape_string(s->shape), s->bytes, bytes);
    }
    if (!frozen_) freeze_layout();
    s->state = Slot::State::writing;
    fd = shard_fds_[s->shard];
    path = temp_ + "/" + shard_names_[s->shard];
  }
  // Outside the lock: tensors of one shard go to disjoint ranges, so writes run in parallel.
  try {
    write_all(fd, data, bytes, s->offset, fmt::format("tensor '{}'", name), path);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    s->state = Slot::State::pending;
    throw;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  s->state = Slot::State::written;
}

void SafetensorsWriter::add_side_file(const std::string& source_path) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) fail(ALLOY_ERR_INVALID_ARGUMENT, "side file {} added after finish", source_path);
  }
  const std::string name = fs::path(source_path).filename().string();
  // Such a name would be taken for part of the model by anyone reading the folder.
  if (ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json")) {
    fail(ALLOY_ERR_INVALID_ARGUMENT, "side file {} looks like model weights by its name",
         source_path);
  }
  const std::string destination = temp_ + "/" + name;
  std::error_code error;
  fs::copy_file(source_path, destination, fs::copy_options::none, error);
  if (error) {
    fail(ALLOY_ERR_IO, "cannot copy side file {} into {}: {}", source_path, temp_, error.message());
  }
  sync_path(destination);
}

void SafetensorsWriter::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) fail(ALLOY_ERR_INVALID_ARGUMENT, "finish() called twice for {}", target_);
  finished_ = true;
  // A failed finish discards everything at once: the job has failed and must leave no output.
  try {
    if (!frozen_) freeze_layout();
    for (const std::string& name : order_) {
      if (slots_.at(name)->state != Slot::State::written) {
        fail(ALLOY_ERR_NOT_FOUND, "output tensor '{}' was declared but never written", name);
      }
    }
    for (std::size_t i = 0; i < shard_fds_.size(); ++i) {
      const std::string path = temp_ + "/" + shard_names_[i];
      sync_checked(shard_fds_[i], path);
      close_checked(std::exchange(shard_fds_[i], -1), path);
    }
    if (shard_names_.size() > 1) {
      json weight_map = json::object();
      uint64_t total = 0;
      for (const std::string& name : order_) {
        const Slot& s = *slots_.at(name);
        weight_map[name] = shard_names_[s.shard];
        total += s.bytes;
      }
      const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
      write_text_file(temp_ + "/" + kIndexName, index.dump(2) + "\n", "the index");
    }
    sync_path(temp_);
    commit();
  } catch (...) {
    discard();
    throw;
  }
}

void SafetensorsWriter::commit() {
  std::error_code error;
  if (fs::exists(fs::symlink_status(target_, error))) {
    if (!options_.overwrite) {
      fail(ALLOY_ERR_IO, "output folder {} appeared while writing; not replacing it", target_);
    }
    // Move the old output aside first: rename cannot replace a non-empty folder.
    const std::string old = target_ + ".old-" + unique_suffix();
    if (::rename(target_.c_str(), old.c_str()) != 0) {
      fail(ALLOY_ERR_IO, "cannot move old output {} aside: {}", target_, std::strerror(errno));
    }
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      const int saved = errno;
      ::rename(old.c_str(), target_.c_str());
      fail(ALLOY_ERR_IO, "cannot rename {} to {}: {}", temp_, target_, std::strerror(saved));
    }
    temp_.clear();
    fs::remove_all(old, error);  // the new output is in place; a leftover is only litter
  } else {
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      fail(ALLOY_ERR_IO, "cannot rename {} to {}: {}", temp_, target_, std::strerror(errno));
    }
    temp_.clear();
  }
  sync_path(parent_of(target_));
}

int remove_partial_outputs(const std::string& target_dir, pid_t pid) {
  return remove_partial_outputs_if(without_trailing_slashes(target_dir),
                                   [pid](pid_t writer) { return writer == pid; });
}

int remove_stale_partial_outputs(const std::string& target_dir) {
  return remove_partial_outputs_if(without_trailing_slashes(target_dir), [](pid_t writer) {
    return ::kill(writer, 0) != 0 && errno == ESRCH;
  });
}

}  // namespace alloy
