#include "merge/job.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "io/safetensors_writer.hpp"
#include "merge/job_output.hpp"
#include "merge/job_workspace.hpp"
#include "merge/params.hpp"
#include "plugin/job_services.hpp"

namespace alloy {
namespace fs = std::filesystem;

const char* status_name(alloy_status status) {
  static const char* kNames[] = {"ok",          "invalid argument", "not found",
                                 "shape error", "dtype error",      "out of memory",
                                 "I/O error",   "cancelled",        "unsupported",
                                 "read-only",   "internal error",   "plugin error"};
  return status >= 0 && status <= ALLOY_ERR_PLUGIN ? kNames[status] : "unknown status";
}

namespace {

using Clock = std::chrono::steady_clock;

// Weights in any format, and their indexes, are never copied beside the merged weights.
bool is_weight_file(const fs::path& path) {
  static const char* kWeightExtensions[] = {".safetensors", ".bin", ".pt",   ".pth",
                                            ".ckpt",        ".h5",  ".gguf", ".msgpack"};
  const std::string file = path.filename().string();
  const std::string index_suffix = ".index.json";
  if (file.size() > index_suffix.size() &&
      file.compare(file.size() - index_suffix.size(), index_suffix.size(), index_suffix) == 0) {
    return true;
  }
  for (const char* ext : kWeightExtensions) {
    if (path.extension() == ext) return true;
  }
  return false;
}

bool same_path(const std::string& a, const std::string& b) {
  std::error_code ec;
  return a == b || fs::equivalent(a, b, ec);
}

class MergeJob : public JobServices {
 public:
  MergeJob(const MergeConfig& config, const LoadedPlugin& plugin, const JobOptions& options)
      : config_(config), plugin_(plugin), options_(options), started_(Clock::now()) {
    open_models();
    params_ = std::make_unique<ResolvedParams>(plugin, config, model_configs_);
    if (options.provider) {
      provider_ = options.provider;
    } else {
      ProviderOptions provider_options;
      provider_options.max_device_memory = options.max_device_memory;
      owned_provider_ = create_provider(options.device, provider_options);
      provider_ = owned_provider_.get();
    }
    workspace_ =
        std::make_unique<JobWorkspace>(registry_, *provider_, config_, base_, model_configs_,
                                       [this](const std::string& message) { info(message); });
    if (options.output_dir.empty()) {
      output_ = std::make_unique<MemoryOutput>();
    } else {
      WriterOptions writer_options;
      writer_options.max_shard_bytes = options.max_shard_bytes;
      writer_options.overwrite = options.overwrite;
      writer_options.metadata = metadata();
      folder_ = new FolderOutput(options.output_dir, writer_options);
      output_.reset(folder_);
    }
    if (!(plugin.descriptor->flags & ALLOY_PLUGIN_DECLARES_OUTPUTS)) declare_template_outputs();
  }

  JobSummary run() {
    alloy_context ctx{this, {}};
    void* state = nullptr;
    const alloy_plugin& d = *plugin_.descriptor;
    if (d.begin) {
      phase_ = "prepare";
      check(call_plugin("preparing", [&] { return d.begin(&ctx, &state); }), ctx, "preparing");
      registry_.check_intact();
    }
    // end() runs whatever happens after a successful begin().
    struct EndGuard {
      MergeJob* job;
      void (*end)(void*);
      void* state;
      ~EndGuard() {
        if (!end) return;
        PluginCall call(*job, "finishing");
        end(state);
      }
    } end_guard{this, d.end, state};
    phase_ = "merge";
    if (d.merge) {
      merging_ = true;
      merge_tensors(state);
    } else {
      check(call_plugin("running", [&] { return d.run(&ctx, state); }), ctx, "running");
    }
    check_not_cancelled();
    registry_.check_intact();
    JobSummary summary;
    if (folder_) {
      copy_side_files();
      folder_->writer().finish();
      summary.output_dir = folder_->writer().target();
    }
    summary.tensors = output_->names().size();
    summary.bytes_read = input_bytes_;
    summary.bytes_written = output_bytes_;
    summary.seconds = elapsed();
    return summary;
  }

  // The outputs of a job without an output folder (run_nested_job), after run().
  std::vector<std::pair<std::string, Tensor>> take_outputs() {
    return static_cast<MemoryOutput&>(*output_).take();
  }

  // --- JobServices ---
  const Registry& registry() const override { return registry_; }
  Provider& provider() override { return *provider_; }
  int32_t base_model() const override { return base_; }
  const ParamValue& param(const std::string& name, int32_t model) const override {
    return params_->get(name, model);
  }
  void log(int32_t level, const std::string& message) override {
    if (options_.on_log) {
      std::lock_guard<std::mutex> lock(report_mutex_);
      options_.on_log(level, "[" + plugin_.id + "] " + message);
    }
  }
  // The host's own messages, unlike log(), are not attributed to the strategy.
  void warn(const std::string& message) { host_message(ALLOY_LOG_WARN, message); }
  void info(const std::string& message) { host_message(ALLOY_LOG_INFO, message); }
  void host_message(int32_t level, const std::string& message) {
    if (!options_.on_log) return;
    std::lock_guard<std::mutex> lock(report_mutex_);
    options_.on_log(level, message);
  }
  // During merge() the host reports progress per tensor; a strategy's own counts would fight it.
  void progress(uint64_t done, uint64_t total) override {
    if (!merging_) report(done, total, 0);
  }
  bool cancelled() const override { return options_.cancel && options_.cancel->load(); }
  void declare_output(const std::string& name, DType dtype, const Shape& shape) override {
    output_->declare(name, is_float(dtype) ? config_.out_dtype.value_or(dtype) : dtype, shape);
  }
  const std::vector<std::string>& output_names() const override { return output_->names(); }
  void put_output(const std::string& name, const Tensor& tensor) override {
    if (!output_->declared(name)) {
      fail(ALLOY_ERR_NOT_FOUND, "output '{}' was not declared", name);
    }
    if (output_->declared_shape(name) != tensor.shape()) {
      fail(ALLOY_ERR_SHAPE, "output '{}' was declared with shape {} but put with shape {}", name,
           shape_string(output_->declared_shape(name)), shape_string(tensor.shape()));
    }
    const DType want = output_->declared_dtype(name);
    if (tensor.dtype() != want && !(is_float(want) && is_float(tensor.dtype()))) {
      fail(ALLOY_ERR_DTYPE, "output '{}' is {} but was put as {}", name, dtype_name(want),
           dtype_name(tensor.dtype()));
    }
    {
      std::lock_guard<std::mutex> lock(put_mutex_);
      if (!put_.insert(name).second)
        fail(ALLOY_ERR_INVALID_ARGUMENT, "output '{}' put twice", name);
    }
    Tensor stored = tensor;
    if (tensor.dtype() != want) {
      stored = provider_->allocate(want, tensor.shape());
      provider_->copy(stored, tensor);
    }
    output_->write(name, stored, *provider_);
    output_bytes_ += stored.nbytes();
    // Stop at the first output computed from a file cut short (finish() would refuse anyway).
    registry_.check_intact();
  }
  int32_t create_model(const std::string& name) override {
    changing_registry("model_create");
    return workspace_->create_model(name);
  }
  void put_model_tensor(int32_t model, const std::string& name, const Tensor& tensor) override {
    changing_registry("model_put");
    workspace_->put(model, name, tensor);
  }
  void drop_model(int32_t model) override {
    changing_registry("model_drop");
    workspace_->drop(model);
  }
  int32_t task_count() const override { return workspace_->task_count(); }
  const std::string& task_name(int32_t task) const override { return workspace_->task_name(task); }
  int32_t model_task(int32_t model) const override { return workspace_->model_task(model); }
  int32_t collect_features(int32_t model, int32_t task, int64_t exemplars,
                           const std::vector<std::string>& layers) override {
    changing_registry("features_collect");
    return workspace_->collect_features(model, task, exemplars, layers);
  }
  void set_output_metadata(const std::string& key, const std::string& value) override {
    if (key.empty()) fail(ALLOY_ERR_INVALID_ARGUMENT, "an empty metadata key");
    if (host_metadata_keys().count(key)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "metadata key '{}' is the host's own", key);
    }
    output_->set_metadata(key, value);
  }
  std::vector<double> train_model(int32_t model, const std::vector<std::string>& tensors,
                                  const TensorTrainOptions& options) override {
    changing_registry("model_train");
    const char* previous = phase_;
    phase_ = "train";
    TrainingHooks hooks;
    hooks.on_step = [this](int64_t done, int64_t total, double) {
      report(static_cast<uint64_t>(done), static_cast<uint64_t>(total), 0);
    };
    hooks.cancelled = [this] { return cancelled(); };
    std::vector<double> losses = workspace_->train_model(model, tensors, options, hooks);
    phase_ = previous;
    return losses;
  }
  int64_t task_inputs(int32_t task, const std::optional<Split>& split) const override {
    return workspace_->task_inputs(task, split);
  }
  int32_t run_strategy(const std::string& strategy, const std::string& parameters,
                       const std::vector<int32_t>& models) override;

 private:
  // merge() may run on several threads that read the registry; it must not grow meanwhile.
  void changing_registry(const char* call) const {
    if (merging_) {
      fail(ALLOY_ERR_UNSUPPORTED,
           "{} changes the registry: call it from begin() or run(), not "
           "from merge()",
           call);
    }
  }

  void open_models() {
    // The base model is index 0; fine-tuned models follow in config order. An entry of
    // `models` that is the base model itself (as mergekit allows) is not a task.
    if (config_.base_model) {
      base_ =
          registry_.add_model(config_.base_model->model, config_.base_model->path, ALLOY_ROLE_BASE);
      model_configs_.push_back(nullptr);
    } else if (plugin_.descriptor->flags & ALLOY_PLUGIN_NEEDS_BASE) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: strategy '{}' needs a base_model", config_.source,
           plugin_.id);
    }
    for (const ModelConfig& m : config_.models) {
      if (config_.base_model && same_path(m.path, config_.base_model->path)) continue;
      registry_.add_model(m.model, m.path, ALLOY_ROLE_MODEL);
      model_configs_.push_back(&m);
    }
    if (registry_.size() == (base_ >= 0 ? 1 : 0)) {
      fail(ALLOY_ERR_INVALID_ARGUMENT, "{}: no model to merge besides the base model",
           config_.source);
    }
  }

  std::set<std::string> host_metadata_keys() const {
    std::set<std::string> keys;
    for (const auto& [key, value] : metadata()) keys.insert(key);
    return keys;
  }

  std::map<std::string, std::string> metadata() const {
    std::vector<std::string> names;
    for (int32_t m = 0; m < registry_.size(); ++m) names.push_back(registry_.model(m).name());
    nlohmann::json models = names;
    nlohmann::json params = params_->describe(names);
    return {{"format", "pt"},
            {"alloy_version", ALLOY_VERSION},
            {"merge_method", plugin_.id},
            {"strategy_version", plugin_.version},
            {"parameters", params.dump()},
            {"models", models.dump()},
            {"base_model", base_ >= 0 ? registry_.model(base_).name() : ""}};
  }

  // The output has the layout of the base model (or of the first model without a base).
  void declare_template_outputs() {
    const Model& model = registry_.model(base_ >= 0 ? base_ : 0);
    for (const TensorEntry& entry : model.tensors()) {
      const DType dtype = is_float(entry.dtype) ? config_.dtype.value_or(entry.dtype) : entry.dtype;
      declare_output(entry.name, dtype, entry.shape);
      uint64_t bytes = 0;
      for (int32_t m = 0; m < registry_.size(); ++m) {
        if (const TensorEntry* e = registry_.model(m).find(entry.name)) bytes += e->bytes;
      }
      input_bytes_of_.push_back(bytes);
      input_bytes_ += bytes;
    }
  }

  void merge_tensors(void* state) {
    const std::vector<std::string>& names = output_->names();
    const bool thread_safe = plugin_.descriptor->flags & ALLOY_PLUGIN_THREAD_SAFE;
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    const int wanted = options_.threads > 0 ? options_.threads : cores;
    const int workers = thread_safe ? std::max(1, std::min<int>(wanted, names.size())) : 1;
    const int op_threads = std::max(1, wanted / workers);

    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto worker = [&] {
      provider_->set_op_threads(op_threads);
      while (!failed && !cancelled()) {
        const std::size_t i = next++;
        if (i >= names.size()) break;
        try {
          merge_one(names[i], state);
          report_tensor_done(i < input_bytes_of_.size() ? input_bytes_of_[i] : 0, names.size());
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!first_error) first_error = std::current_exception();
          failed = true;
        }
      }
    };
    std::vector<std::thread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    if (first_error) std::rethrow_exception(first_error);
  }

  void merge_one(const std::string& name, void* state) {
    const Model& source = registry_.model(base_ >= 0 ? base_ : 0);
    const TensorEntry* entry = source.find(name);
    if (entry && !is_float(entry->dtype)) {
      // Integer and bool tensors (position ids, masks) are not weights: copied from the base.
      put_output(name, source.read(name));
      source.release(name);
    } else {
      // Tensors the strategy read drop their mapped pages as it gives them back (host table).
      alloy_context ctx{this, {}};
      const std::string doing = fmt::format("merging tensor '{}'", name);
      check(
          call_plugin(doing, [&] { return plugin_.descriptor->merge(&ctx, state, name.c_str()); }),
          ctx, doing);
      std::lock_guard<std::mutex> lock(put_mutex_);
      if (!put_.count(name)) {
        fail(ALLOY_ERR_PLUGIN, "strategy '{}' returned success for tensor '{}' without putting it",
             plugin_.id, name);
      }
    }
  }

  void announce(const std::string& activity) const {
    if (options_.on_plugin_call) options_.on_plugin_call(activity);
  }

  // Announces what the strategy does for as long as one call into it lasts, and that it is
  // done when the call returns, so a crash after it is not blamed on the strategy.
  struct PluginCall {
    const MergeJob& job;
    PluginCall(const MergeJob& j, const std::string& activity) : job(j) { job.announce(activity); }
    ~PluginCall() { job.announce(""); }
  };
  template <typename Call>
  alloy_status call_plugin(const std::string& activity, Call call) const {
    PluginCall announced(*this, activity);
    return call();
  }

  void check(alloy_status status, const alloy_context& ctx, const std::string& doing) {
    if (status == ALLOY_OK) return;
    registry_.check_intact();  // a file cut short is the root cause of whatever followed
    if (status == ALLOY_ERR_CANCELLED || cancelled()) fail(ALLOY_ERR_CANCELLED, "merge cancelled");
    fail(status, "strategy '{}' failed {} ({}): {}", plugin_.id, doing, status_name(status),
         ctx.error.empty() ? "no message" : ctx.error);
  }

  void check_not_cancelled() const {
    if (cancelled()) fail(ALLOY_ERR_CANCELLED, "merge cancelled");
  }

  void report_tensor_done(uint64_t bytes, uint64_t total) {
    std::lock_guard<std::mutex> lock(report_mutex_);
    ++tensors_done_;
    bytes_done_ += bytes;
    report_locked(tensors_done_, total, bytes_done_);
  }

  void report(uint64_t done, uint64_t total, uint64_t bytes) {
    std::lock_guard<std::mutex> lock(report_mutex_);
    report_locked(done, total, bytes);
  }

  void report_locked(uint64_t done, uint64_t total, uint64_t bytes) {
    if (!options_.on_progress) return;
    JobProgress p;
    p.phase = phase_;
    p.done = done;
    p.total = total;
    p.bytes_read = bytes;
    p.seconds = elapsed();
    options_.on_progress(p);
  }

  // Small files of a Hugging Face folder (config.json, tokenizer) travel with the weights.
  void copy_side_files() {
    if (base_ < 0) return;
    const fs::path base_path = config_.base_model->path;
    std::error_code ec;
    if (!fs::is_directory(base_path, ec)) return;
    for (const auto& entry : fs::directory_iterator(base_path, ec)) {
      if (!entry.is_regular_file(ec) || is_weight_file(entry.path()) ||
          entry.file_size(ec) >= (64u << 20)) {
        continue;
      }
      if (entry.is_symlink(ec) && !link_stays_in_model(base_path, entry.path())) {
        warn(fmt::format("not copying {}: it links to {}, outside the model folder",
                         entry.path().string(), fs::canonical(entry.path(), ec).string()));
        continue;
      }
      folder_->writer().add_side_file(entry.path().string());
    }
  }

  // A side file that is a symbolic link is copied only when it resolves inside the model
  // folder, or into the blob store of a Hugging Face cache (snapshots/REV/x -> ../../blobs/H):
  // a downloaded model must not be able to pull ~/.ssh/id_rsa into an output one publishes.
  static bool link_stays_in_model(const fs::path& model, const fs::path& link) {
    std::error_code ec;
    const fs::path target = fs::canonical(link, ec);
    const fs::path root = fs::canonical(model, ec);
    if (ec) return false;
    auto inside = [](const fs::path& path, const fs::path& folder) {
      const auto mismatch =
          std::mismatch(folder.begin(), folder.end(), path.begin(), path.end()).first;
      return mismatch == folder.end();
    };
    if (inside(target, root)) return true;
    const fs::path cache = root.parent_path().parent_path();
    return root.parent_path().filename() == "snapshots" && inside(target, cache / "blobs");
  }

  double elapsed() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }

  const MergeConfig& config_;
  const LoadedPlugin& plugin_;
  const JobOptions& options_;
  Clock::time_point started_;
  Registry registry_;
  std::vector<const ModelConfig*> model_configs_;
  int32_t base_ = ALLOY_GLOBAL;
  std::unique_ptr<ResolvedParams> params_;
  std::unique_ptr<Provider> owned_provider_;
  Provider* provider_ = nullptr;  // owned_provider_, or the outer job's
  std::unique_ptr<JobOutput> output_;
  FolderOutput* folder_ = nullptr;  // output_ when it is a folder
  std::vector<uint64_t> input_bytes_of_;
  uint64_t input_bytes_ = 0;
  std::atomic<uint64_t> output_bytes_{0};
  const char* phase_ = "";
  std::atomic<bool> merging_{false};
  std::unique_ptr<JobWorkspace> workspace_;
  std::mutex put_mutex_;
  std::set<std::string> put_;
  std::mutex report_mutex_;
  uint64_t tensors_done_ = 0;
  uint64_t bytes_done_ = 0;
};

int32_t MergeJob::run_strategy(const std::string& strategy, const std::string& parameters,
                               const std::vector<int32_t>& models) {
  changing_registry("strategy_run");
  if (!options_.catalog) {
    fail(ALLOY_ERR_UNSUPPORTED, "strategy '{}' cannot run '{}': this host loaded no strategies",
         plugin_.id, strategy);
  }
  const LoadedPlugin* inner = options_.catalog->find(strategy);
  if (!inner) {
    std::string known;
    for (const LoadedPlugin& p : options_.catalog->plugins()) {
      known += (known.empty() ? "" : ", ") + p.id;
    }
    fail(ALLOY_ERR_NOT_FOUND,
         "strategy '{}' asked to run strategy '{}', which is not loaded (loaded: {})", plugin_.id,
         strategy, known);
  }
  std::vector<std::string> running = options_.outer_strategies;
  running.push_back(plugin_.id);
  if (std::find(running.begin(), running.end(), strategy) != running.end()) {
    std::string chain;
    for (const std::string& id : running) chain += id + " -> ";
    fail(ALLOY_ERR_INVALID_ARGUMENT,
         "strategy '{}' is already running ({}{}): a strategy may not run itself", strategy, chain,
         strategy);
  }
  // The inner job: the same base model and data, the chosen fine-tuned models with their tasks,
  // the given parameters; float outputs in F32, for the strategy that builds on them.
  MergeConfig inner_config;
  inner_config.source =
      fmt::format("{} (strategy '{}' run by '{}')", config_.source, strategy, plugin_.id);
  inner_config.merge_method = strategy;
  inner_config.base_model = config_.base_model;
  inner_config.data = config_.data;
  inner_config.dtype = DType::F32;
  inner_config.out_dtype = DType::F32;  // also for strategies that declare their own outputs
  inner_config.parameters = parse_parameters(parameters, inner_config.source);
  std::vector<int32_t> chosen = models;
  if (chosen.empty()) {
    for (int32_t m = 0; m < static_cast<int32_t>(model_configs_.size()); ++m) {
      if (model_configs_[static_cast<std::size_t>(m)]) chosen.push_back(m);
    }
  }
  for (const int32_t m : chosen) {
    if (m < 0 || m >= static_cast<int32_t>(model_configs_.size()) ||
        !model_configs_[static_cast<std::size_t>(m)]) {
      fail(ALLOY_ERR_INVALID_ARGUMENT,
           "strategy_run: model {} is not a fine-tuned model of the job (indices of its input "
           "models other than the base)",
           m);
    }
    inner_config.models.push_back(*model_configs_[static_cast<std::size_t>(m)]);
  }
  JobOptions inner_options;
  inner_options.threads = options_.threads;
  inner_options.cancel = options_.cancel;
  inner_options.catalog = options_.catalog;
  inner_options.provider = provider_;
  inner_options.outer_strategies = running;
  inner_options.on_plugin_call = options_.on_plugin_call;
  inner_options.on_log = [this](int32_t level, const std::string& message) { log(level, message); };
  const auto started = Clock::now();
  std::vector<std::pair<std::string, Tensor>> outputs =
      run_nested_job(inner_config, *inner, inner_options);
  // The inner job's worker threads set this thread's op threads for their own share.
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  provider_->set_op_threads(options_.threads > 0 ? options_.threads : cores);
  const int32_t index = workspace_->create_model(fmt::format("output of strategy '{}'", strategy));
  for (const auto& [name, tensor] : outputs) workspace_->put(index, name, tensor);
  info(fmt::format("ran strategy '{}' ({}) on {} models: {} tensors in {:.2f}s", strategy,
                   parameters.empty() ? "its defaults" : parameters, chosen.size(), outputs.size(),
                   std::chrono::duration<double>(Clock::now() - started).count()));
  return index;
}

}  // namespace

JobSummary run_merge_job(const MergeConfig& config, const LoadedPlugin& plugin,
                         const JobOptions& options) {
  if (options.output_dir.empty())
    fail(ALLOY_ERR_INVALID_ARGUMENT, "a merge needs an output folder");
  MergeJob job(config, plugin, options);
  return job.run();
}

std::vector<std::pair<std::string, Tensor>> run_nested_job(const MergeConfig& config,
                                                           const LoadedPlugin& plugin,
                                                           const JobOptions& options) {
  if (!options.provider || !options.output_dir.empty()) {
    fail(ALLOY_ERR_INTERNAL, "a nested job runs on its outer job's provider, into memory");
  }
  MergeJob job(config, plugin, options);
  job.run();
  return job.take_outputs();
}

const char* log_level_name(int32_t level) {
  switch (level) {
    case ALLOY_LOG_DEBUG:
      return "debug";
    case ALLOY_LOG_WARN:
      return "warning";
    case ALLOY_LOG_ERROR:
      return "error";
    default:
      return "info";
  }
}

}  // namespace alloy
