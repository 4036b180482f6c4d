#include "middleware/audit/audit_stage.hpp"

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

namespace prism {

namespace {

/// Rotation: at most this many bytes per file and this many old files.
constexpr size_t audit_file_bytes_max = 100 * 1024 * 1024;
constexpr size_t audit_files_kept = 5;

class file_audit_sink final : public audit_sink {
public:
  explicit file_audit_sink(const std::string& path) {
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty())
      std::filesystem::create_directories(parent, ec);
    try {
      auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        path, audit_file_bytes_max, audit_files_kept);
      // A logger per sink, not registered globally, so several gateways
      // (tests) can live in one process.
      logger_ = std::make_shared<spdlog::async_logger>(
        "audit", sink, spdlog::thread_pool(),
        spdlog::async_overflow_policy::overrun_oldest);
      logger_->set_pattern("{\"time\":\"%Y-%m-%dT%H:%M:%S.%fZ\",%v",
                           spdlog::pattern_time_type::utc);
      logger_->set_level(spdlog::level::info);
      logger_->flush_on(spdlog::level::warn);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open the audit log \"" + path
                               + "\": " + e.what());
    }
  }

  ~file_audit_sink() override { logger_->flush(); }

  void write(std::string json_line) override {
    // The object arrives as "{...}"; the pattern supplies the opening brace
    // and the time field.
    logger_->info(std::string_view(json_line).substr(1));
  }

  void flush() override { logger_->flush(); }

private:
  std::shared_ptr<spdlog::async_logger> logger_;
};

} // namespace

std::shared_ptr<audit_sink> make_file_audit_sink(const std::string& path) {
  if (!spdlog::thread_pool())
    spdlog::init_thread_pool(8192, 1);
  return std::make_shared<file_audit_sink>(path);
}

audit_logic::audit_logic(std::shared_ptr<audit_sink> sink)
  : sink_(std::move(sink)) {
}

std::string audit_logic::format_line(const kv_call& call) {
  auto& ctx = call.context;
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
    call.completed_at - ctx.received_at);
  nlohmann::json line = {
    {"request_id", ctx.request_id},
    {"principal", ctx.principal},
    {"peer", ctx.peer},
    {"namespace", ctx.ns},
    {"operation", std::string(kv::operation_name(*call.operation))},
    {"key", std::string(kv::primary_key(*call.operation))},
    {"code", std::string(to_string(call.final_code))},
    {"latency_us", latency.count()},
    {"backend", call.backend},
  };
  if (!ctx.traceparent.empty())
    line["traceparent"] = ctx.traceparent;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void audit_logic::on_complete(const kv_call& call) {
  sink_->write(format_line(call));
  ++written_;
}

void audit_logic::report(metric_report& out) const {
  out.push_back({"prism_audit_lines_total",
                 "Audit lines handed to the audit log writer.",
                 "counter",
                 {{"", static_cast<double>(written_), ""}}});
}

std::unique_ptr<stage_logic> make_audit_stage(std::shared_ptr<audit_sink> sink) {
  return std::make_unique<audit_logic>(std::move(sink));
}

} // namespace prism
