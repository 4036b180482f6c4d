#include "middleware/audit/audit_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "middleware/audit/audit_queue.hpp"
#include "model/digest.hpp"
#include "runtime/admission.hpp"

namespace prism {

namespace {

/// Appends the current time as 2026-11-27T21:13:05.123456Z. The part up to
/// the second is formatted once per second (per thread): lines come in the
/// thousands per second.
void append_utc_now(std::string& out) {
  auto micros_since_epoch
    = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count();
  auto secs = static_cast<std::time_t>(micros_since_epoch / 1000000);
  auto micros = static_cast<unsigned>(micros_since_epoch % 1000000);
  constexpr size_t seconds_chars = 19; // 2026-11-27T21:13:05
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[seconds_chars + 1] = {};
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    fmt::format_to_n(cached, seconds_chars,
                     "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    cached_secs = secs;
  }
  out.append(cached, seconds_chars);
  char fraction[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
  for (int i = 6; i >= 1; --i, micros /= 10)
    fraction[i] = static_cast<char>('0' + micros % 10);
  out.append(fraction, sizeof fraction);
}

/// Queues lines from the audit stage (bounded, see audit_queue) and writes
/// them in batches from a thread of its own.
class file_audit_sink final : public audit_sink {
public:
  explicit file_audit_sink(file_audit_options options)
    : options_(std::move(options)),
      queue_(options_.queue_lines_max, options_.batch_lines) {
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
    queue_.stop();
    writer_.join();
  }

  void write(std::string json_line) override { queue_.push(timed(json_line)); }

  bool reserve() override { return queue_.reserve(); }

  void write_reserved(std::string json_line) override {
    queue_.push_reserved(timed(json_line));
  }

  void abandon() override { queue_.abandon(); }

  uint64_t dropped() const override { return queue_.dropped(); }

  uint64_t backlog() const override { return queue_.occupied(); }

private:
  /// The object arrives as "{...}"; the time of the answer goes first.
  static std::string timed(std::string_view json_line) {
    std::string out;
    out.reserve(json_line.size() + 40);
    out += "{\"time\":\"";
    append_utc_now(out);
    out += "\",";
    out.append(json_line.substr(1));
    return out;
  }

  /// Lines go to the file in chunks of whole lines, one write each, no
  /// larger than this or a file's size limit (the file rotates between
  /// chunks, so it stays within its limit).
  static constexpr size_t chunk_bytes_max = 64 * 1024;

  void run() {
    std::vector<std::string> batch;
    std::string chunk;
    // With the newline the sink adds, a chunk fits in a file.
    const size_t chunk_max = std::min(
      chunk_bytes_max,
      options_.file_bytes_max > 1 ? options_.file_bytes_max - 1 : size_t{1});
    for (;;) {
      bool running = queue_.take(batch, options_.flush_interval);
      size_t failed = 0;
      size_t i = 0;
      while (i < batch.size()) {
        // The sink ends what it writes with a newline: the last line of a
        // chunk goes without one.
        chunk = std::move(batch[i++]);
        size_t lines = 1;
        while (i < batch.size()
               && chunk.size() + 1 + batch[i].size() <= chunk_max) {
          chunk += '\n';
          chunk += batch[i++];
          ++lines;
        }
        spdlog::details::log_msg msg{"audit", spdlog::level::info, chunk};
        try {
          file_->log(msg);
        } catch (const spdlog::spdlog_ex& e) {
          failed += lines;
          report_write_error(e.what());
        }
      }
      if (!batch.empty())
        file_->flush();
      // A line's room comes back only now that it is on its way to disk, so
      // a slow disk fills the queue rather than memory.
      queue_.count_dropped(failed);
      queue_.written(batch.size());
      batch.clear();
      if (!running)
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
  audit_queue queue_;
  std::shared_ptr<spdlog::sinks::rotating_file_sink_st> file_;
  bool write_failing_ = false;
  std::thread writer_;
};

} // namespace

std::shared_ptr<audit_sink> make_file_audit_sink(file_audit_options options) {
  return std::make_shared<file_audit_sink>(std::move(options));
}

metric_report audit_sink_report(const audit_sink& sink) {
  return {
    {"prism_audit_lines_dropped_total",
     "Audit lines dropped because the writer fell behind (its queue was "
     "full) or the file could not be written.",
     metric_type::counter,
     {{{}, static_cast<double>(sink.dropped())}}},
    {"prism_audit_backlog_lines",
     "Audit lines queued or reserved and not written yet.",
     metric_type::gauge,
     {{{}, static_cast<double>(sink.backlog())}}},
  };
}

audit_slot::audit_slot(std::shared_ptr<audit_sink> sink)
  : sink_(std::move(sink)) {}

audit_slot::~audit_slot() {
  if (!written_)
    sink_->abandon();
}

void audit_slot::write(std::string json_line) {
  written_ = true;
  sink_->write_reserved(std::move(json_line));
}

audit_logic::audit_logic(std::shared_ptr<audit_sink> sink,
                         audit_namespaces namespaces,
                         metrics_registry_ptr metrics)
  : sink_(std::move(sink)), metrics_(std::move(metrics)) {
  lines_ = &metrics_->counter("prism_audit_lines_total",
                              "Audit lines handed to the audit log writer.");
  take(std::move(namespaces));
}

void audit_logic::take(audit_namespaces namespaces) {
  redacted_ = std::move(namespaces.redacted);
  required_.clear();
  for (const auto& ns : namespaces.required)
    required_[ns] = &metrics_->counter(
      "prism_audit_refused_total",
      "Calls of namespaces with audit_required refused before they ran, "
      "because the audit log had no room for their line.",
      {{"namespace", ns}});
}

void audit_logic::reconfigure(const config::gateway_config& cfg) {
  take(audit_namespaces_of(cfg));
}

namespace {

/// The most bytes `write_json_string` writes for `text`: quotes, and six
/// for any byte (\u00XX, or \ufffd for a byte that is not valid UTF-8).
constexpr size_t json_string_bytes_max(std::string_view text) {
  return 2 + 6 * text.size();
}

/// Whether any of the 8 bytes in `w` is a control character, DEL, a byte
/// of 0x80 or above, the quote or the backslash: whether they need more than
/// a copy. (Bit tricks on a whole word; a zero byte in `v` shows as a set
/// top bit in `(v - 0x01..) & ~v & 0x80..`.)
constexpr bool word_needs_escaping(uint64_t w) noexcept {
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  auto zero_byte = [](uint64_t v) {
    return (v - ones) & ~v & highs;
  };
  uint64_t below_space = (w - ones * 0x20) & ~w & highs;
  return ((w & highs) | below_space | zero_byte(w ^ (ones * 0x7f))
          | zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\')))
    != 0;
}

/// Writes `text` as a JSON string (with quotes) at `p`, which has room for
/// `json_string_bytes_max(text)` bytes, and returns the end. Bytes that do
/// not form valid UTF-8 become U+FFFD, so a line always parses.
char* write_json_string(char* p, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  *p++ = '"';
  size_t i = 0;
  while (i < text.size()) {
    // Printable ASCII other than the quote and the backslash goes as it is,
    // a run at a time, eight bytes at a time while they allow.
    size_t run = i;
    while (run + 8 <= text.size()) {
      uint64_t w;
      std::memcpy(&w, text.data() + run, sizeof w);
      if (word_needs_escaping(w))
        break;
      run += 8;
    }
    while (run < text.size()) {
      auto r = static_cast<unsigned char>(text[run]);
      if (r < 0x20 || r >= 0x7f || r == '"' || r == '\\')
        break;
      ++run;
    }
    if (run > i) {
      put(text.substr(i, run - i));
      i = run;
      continue;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': put("\\\""); break;
        case '\\': put("\\\\"); break;
        case '\n': put("\\n"); break;
        case '\r': put("\\r"); break;
        case '\t': put("\\t"); break;
        default:
          if (c < 0x20) {
            put("\\u00");
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
          } else {
            *p++ = static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: copy it when well-formed.
    size_t len = c >= 0xF0 && c <= 0xF4 ? 4
      : c >= 0xE0 && c <= 0xEF          ? 3
      : c >= 0xC2 && c <= 0xDF          ? 2
                                        : 0;
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (valid) {
      put(text.substr(i, len));
      i += len;
    } else {
      put("\\ufffd");
      ++i;
    }
  }
  *p++ = '"';
  return p;
}

} // namespace

std::string audit_logic::format_line(const kv_call& call, bool redact_key) {
  auto& ctx = call.context;
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
    call.completed_at - ctx.received_at);
  std::string digest;
  std::string_view key = model::primary_key(*call.operation);
  if (redact_key) {
    digest = "sha256:" + model::sha256_hex(key);
    key = digest;
  }
  struct text_field {
    std::string_view name;
    std::string_view value;
  };
  // In the order they appear; latency_us (a number) goes before backend.
  const text_field before[] = {
    {"request_id", ctx.request_id},
    {"traceparent", ctx.traceparent},
    {"principal", ctx.principal},
    {"peer", ctx.peer},
    {"namespace", ctx.ns},
    {"operation", model::operation_name(*call.operation)},
    {"key", key},
    {"code", to_string(call.final_code)},
  };
  const text_field backend{"backend", call.backend};
  const fmt::format_int micros(latency.count());
  constexpr std::string_view latency_name = ",\"latency_us\":";
  // Sized for the worst case first, so every piece is a plain copy.
  size_t bound = 2 + latency_name.size() + micros.size();
  for (const auto& f : before)
    bound += f.name.size() + 4 + json_string_bytes_max(f.value);
  bound += backend.name.size() + 4 + json_string_bytes_max(backend.value);
  std::string line(bound, '\0');
  char* p = line.data();
  auto field = [&p, first = true](const text_field& f) mutable {
    *p++ = first ? '{' : ',';
    first = false;
    *p++ = '"';
    std::memcpy(p, f.name.data(), f.name.size());
    p += f.name.size();
    *p++ = '"';
    *p++ = ':';
    p = write_json_string(p, f.value);
  };
  for (const auto& f : before)
    if (f.name != "traceparent" || !f.value.empty())
      field(f);
  std::memcpy(p, latency_name.data(), latency_name.size());
  p += latency_name.size();
  std::memcpy(p, micros.data(), micros.size());
  p += micros.size();
  field(backend);
  *p++ = '}';
  line.resize(static_cast<size_t>(p - line.data()));
  return line;
}

status audit_logic::on_request(kv_call& call) {
  auto required = required_.find(call.context.ns);
  if (required == required_.end())
    return {};
  if (sink_->reserve()) {
    call.audit_reservation = std::make_shared<audit_slot>(sink_);
    return {};
  }
  required->second->Increment();
  auto refused = status::failure(
    status_code::unavailable,
    fmt::format("namespace \"{}\" requires an audit line for every request "
                "(audit_required) and the audit log's backlog is full ({} "
                "lines not yet written); the request was not run, retry "
                "later",
                call.context.ns, sink_->backlog()));
  refused.retry_after_ms = defaults::overload_retry_after_ms;
  refused.reason = refusal::audit_backlog;
  return refused;
}

void audit_logic::on_complete(const kv_call& call) {
  auto line = format_line(call, redacted_.count(call.context.ns) > 0);
  if (call.audit_reservation)
    call.audit_reservation->write(std::move(line));
  else
    sink_->write(std::move(line));
  lines_->Increment();
}

audit_namespaces audit_namespaces_of(const config::gateway_config& cfg) {
  audit_namespaces out;
  for (const auto& [name, ns] : cfg.namespaces) {
    if (ns.redact_keys)
      out.redacted.insert(name);
    if (ns.audit_required)
      out.required.insert(name);
  }
  return out;
}

std::unique_ptr<stage_logic> make_audit_stage(
  std::shared_ptr<audit_sink> sink, audit_namespaces namespaces,
  const metrics_registry_ptr& metrics) {
  return std::make_unique<audit_logic>(std::move(sink), std::move(namespaces),
                                       metrics);
}

} // namespace prism
