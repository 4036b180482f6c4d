#include "middleware/audit/audit_stage.hpp"

#include <chrono>
#include <filesystem>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <ctime>

#include <fmt/format.h>

#include "config/config.hpp"

#include "kv/digest.hpp"
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

namespace prism {

namespace {

/// The current time as 2026-11-27T21:13:05.123456Z.
std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                  now.time_since_epoch())
                  .count()
                % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, micros);
}

/// Batches lines from the audit stage and writes them from its own thread.
/// The stage only takes a short lock to append; it wakes the writer only when
/// a batch is full, not for every line.
class file_audit_sink final : public audit_sink {
public:
  explicit file_audit_sink(file_audit_options options)
    : options_(std::move(options)) {
    std::error_code ec;
    auto parent = std::filesystem::path(options_.path).parent_path();
    if (!parent.empty())
      std::filesystem::create_directories(parent, ec);
    try {
      file_ = std::make_shared<spdlog::sinks::rotating_file_sink_st>(
        options_.path, options_.file_bytes_max, options_.files_kept);
      file_->set_pattern("%v");
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open the audit log \"" + options_.path
                               + "\": " + e.what());
    }
    writer_ = std::thread([this] { run(); });
  }

  ~file_audit_sink() override {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();
  }

  void write(std::string json_line) override {
    // The object arrives as "{...}"; prefix the time of the answer.
    auto line = fmt::format("{{\"time\":\"{}\",{}", utc_now(),
                            std::string_view(json_line).substr(1));
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (pending_.size() >= options_.queue_lines_max) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      pending_.push_back(std::move(line));
      wake = pending_.size() == options_.batch_lines;
    }
    if (wake)
      wake_.notify_one();
  }

  uint64_t dropped() const override {
    return dropped_.load(std::memory_order_relaxed);
  }

private:
  void run() {
    std::vector<std::string> batch;
    for (;;) {
      bool stopping = false;
      {
        std::unique_lock<std::mutex> guard{mutex_};
        wake_.wait_for(guard, options_.flush_interval, [this] {
          return stopping_ || pending_.size() >= options_.batch_lines;
        });
        batch.swap(pending_);
        stopping = stopping_;
      }
      for (auto& line : batch) {
        spdlog::details::log_msg msg{"audit", spdlog::level::info, line};
        try {
          file_->log(msg);
        } catch (const spdlog::spdlog_ex& e) {
          dropped_.fetch_add(1, std::memory_order_relaxed);
          report_write_error(e.what());
        }
      }
      if (!batch.empty())
        file_->flush();
      batch.clear();
      if (stopping)
        return;
    }
  }

  void report_write_error(const char* what) {
    // One complaint per run of failures is enough for an operator.
    if (!write_failing_)
      spdlog::error("audit log \"{}\": cannot write: {}; lines are being "
                    "dropped",
                    options_.path, what);
    write_failing_ = true;
  }

  file_audit_options options_;
  std::shared_ptr<spdlog::sinks::rotating_file_sink_st> file_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::string> pending_;
  bool stopping_ = false;
  bool write_failing_ = false;
  std::atomic<uint64_t> dropped_{0};
  std::thread writer_;
};

} // namespace

std::shared_ptr<audit_sink> make_file_audit_sink(file_audit_options options) {
  return std::make_shared<file_audit_sink>(std::move(options));
}

audit_logic::audit_logic(std::shared_ptr<audit_sink> sink,
                         std::set<std::string> redacted)
  : sink_(std::move(sink)), redacted_(std::move(redacted)) {
}

void audit_logic::reconfigure(const config::gateway_config& cfg) {
  redacted_.clear();
  for (const auto& [name, ns] : cfg.namespaces)
    if (ns.redact_keys)
      redacted_.insert(name);
}

namespace {

/// Appends `text` as a JSON string (with quotes). Bytes that do not form
/// valid UTF-8 become U+FFFD, so a line always parses.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: copy it when well-formed.
    size_t len = c >= 0xF0 && c <= 0xF4   ? 4
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xC2 && c <= 0xDF ? 2
                                          : 0;
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (valid) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

} // namespace

std::string audit_logic::format_line(const kv_call& call, bool redact_key) {
  auto& ctx = call.context;
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
    call.completed_at - ctx.received_at);
  std::string line;
  line.reserve(256);
  auto field = [&line](std::string_view name, std::string_view value) {
    line += line.empty() ? '{' : ',';
    line += '"';
    line += name;
    line += "\":";
    append_json_string(line, value);
  };
  field("request_id", ctx.request_id);
  if (!ctx.traceparent.empty())
    field("traceparent", ctx.traceparent);
  field("principal", ctx.principal);
  field("peer", ctx.peer);
  field("namespace", ctx.ns);
  field("operation", kv::operation_name(*call.operation));
  if (redact_key)
    field("key", "sha256:" + kv::sha256_hex(kv::primary_key(*call.operation)));
  else
    field("key", kv::primary_key(*call.operation));
  field("code", to_string(call.final_code));
  line += fmt::format(",\"latency_us\":{}", latency.count());
  field("backend", call.backend);
  line += '}';
  return line;
}

void audit_logic::on_complete(const kv_call& call) {
  sink_->write(format_line(call, redacted_.count(call.context.ns) > 0));
  ++written_;
}

void audit_logic::report(metric_report& out) const {
  out.push_back({"prism_audit_lines_total",
                 "Audit lines handed to the audit log writer.",
                 "counter",
                 {{"", static_cast<double>(written_), ""}}});
  out.push_back({"prism_audit_lines_dropped_total",
                 "Audit lines dropped because the writer fell behind or the "
                 "file could not be written.",
                 "counter",
                 {{"", static_cast<double>(sink_->dropped()), ""}}});
}

std::unique_ptr<stage_logic> make_audit_stage(std::shared_ptr<audit_sink> sink,
                                              std::set<std::string> redacted) {
  return std::make_unique<audit_logic>(std::move(sink), std::move(redacted));
}

} // namespace prism
