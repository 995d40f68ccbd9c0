// Writes a model as sharded safetensors, streaming: every output is declared first, which
// fixes the layout (shard, offset) of each tensor, so tensors can then be written in place in
// any order and from several threads. Everything goes to a temporary folder beside the target,
// renamed into place by finish(); a writer destroyed before finish() removes it, so a failed
// job never leaves partial output.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/types.h>

#include "tensor/tensor.hpp"

namespace alloy {

struct WriterOptions {
  uint64_t max_shard_bytes = 5ull * 1000 * 1000 * 1000;  // Hugging Face's default, 5 GB
  std::map<std::string, std::string> metadata;           // __metadata__ of every shard
  bool overwrite = false;  // replace an existing target instead of failing
};

class SafetensorsWriter {
 public:
  // Throws when `target_dir` exists (and !overwrite) or its parent is not writable.
  SafetensorsWriter(std::string target_dir, WriterOptions options);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Before the first write only. Throws for a duplicate or invalid name.
  void declare(const std::string& name, DType dtype, const Shape& shape);
  bool declared(const std::string& name) const;
  DType declared_dtype(const std::string& name) const;
  const Shape& declared_shape(const std::string& name) const;
  const std::vector<std::string>& names() const { return order_; }
  // Sets an entry of every shard's __metadata__; before the first write only (then the headers
  // are written: ALLOY_ERR_UNSUPPORTED).
  void set_metadata(const std::string& key, const std::string& value);

  // Writes a declared tensor's bytes (its declared dtype; `bytes` must match). Thread-safe;
  // each tensor once. The first write fixes the layout and creates the shard files.
  void write(const std::string& name, const void* data, uint64_t bytes);
  // Copies a file into the output folder beside the shards (config.json, tokenizer, ...).
  void add_side_file(const std::string& source_path);

  // Checks every declared tensor was written (else throws naming the first missing one),
  // writes the index when there are several shards, syncs, and renames into place. Call it
  // once, after every write has returned; when it throws, the output is discarded.
  void finish();
  // The folder finish() created.
  const std::string& target() const { return target_; }
  // The temporary folder being filled; files a caller writes there before finish() appear in
  // the target with the same atomic rename.
  const std::string& staging_dir() const { return temp_; }

 private:
  struct Slot;
  Slot& slot(const std::string& name) const;  // throws for an undeclared name
  void freeze_layout();                       // requires mutex_
  void commit();                              // renames the finished folder into place
  void discard() noexcept;                    // closes the shards, removes the temp folder
  std::string target_;
  std::string temp_;
  WriterOptions options_;
  std::vector<std::string> order_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
  std::vector<int> shard_fds_;
  std::vector<std::string> shard_names_;
  std::mutex mutex_;
  bool frozen_ = false;
  bool finished_ = false;
};

// Removes the temporary folders that writers in process `pid` left beside `target_dir`: a
// process that crashed or was killed cannot clean up after itself. Returns how many it removed.
int remove_partial_outputs(const std::string& target_dir, pid_t pid);
// The same for every process that no longer runs; each new writer calls it for its target.
int remove_stale_partial_outputs(const std::string& target_dir);

}  // namespace alloy
