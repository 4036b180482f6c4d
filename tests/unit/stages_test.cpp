// The stage kinds on their own: what metrics count, what audit writes, and
// the audit file writer.

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "middleware/audit/audit_stage.hpp"
#include "middleware/metrics/metrics_stage.hpp"

using namespace prism;

namespace {

call_ptr answered_call(std::string ns, kv::operation op, status_code code,
                       std::chrono::microseconds latency) {
  request_context rc;
  rc.request_id = "req-1";
  rc.ns = std::move(ns);
  rc.peer = "ipv4:127.0.0.1:5000";
  rc.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  auto call = make_call(std::move(rc), std::move(op), nullptr);
  call->completed_at = call->context.received_at + latency;
  call->backend = "mem";
  call->complete(kv::outcome::failure(code, "x"));
  return call;
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    char tmpl[] = "/tmp/prism-stages-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

} // namespace

TEST_CASE("metrics count by namespace, operation and code, with latency "
          "buckets") {
  metrics_logic metrics{{"cache"}};
  using namespace std::chrono_literals;
  metrics.on_complete(*answered_call("cache", kv::get_op{"k"},
                                     status_code::ok, 80us));
  metrics.on_complete(*answered_call("cache", kv::get_op{"k"},
                                     status_code::ok, 3ms));
  metrics.on_complete(*answered_call("other", kv::get_op{"k"},
                                     status_code::not_found, 10us));
  metric_report report;
  metrics.report(report);
  auto text = render_prometheus(report);
  CHECK_THAT(text, Catch::Contains(R"(prism_requests_total{namespace="cache",operation="Get",code="OK"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(prism_requests_total{namespace="_unknown",operation="Get",code="NOT_FOUND"} 1)"));
  // 80 µs falls in the 100 µs bucket, 3 ms only from the 5 ms bucket on.
  CHECK_THAT(text, Catch::Contains(R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="5e-05"} 0)"));
  CHECK_THAT(text, Catch::Contains(R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="0.0001"} 1)"));
  CHECK_THAT(text, Catch::Contains(R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="0.0025"} 1)"));
  CHECK_THAT(text, Catch::Contains(R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="0.005"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(prism_request_duration_seconds_count{namespace="cache",operation="Get"} 2)"));
  CHECK_THAT(text, Catch::Contains("# TYPE prism_request_duration_seconds histogram"));
}

TEST_CASE("an audit line names the request, its outcome and its latency") {
  using namespace std::chrono_literals;
  auto call = answered_call("cache", kv::set_op{"user:42", "v", 0, {}},
                            status_code::failed_precondition, 1500us);
  auto line = nlohmann::json::parse(audit_logic::format_line(*call));
  CHECK(line["request_id"] == "req-1");
  CHECK(line["namespace"] == "cache");
  CHECK(line["operation"] == "Set");
  CHECK(line["key"] == "user:42");
  CHECK(line["code"] == "FAILED_PRECONDITION");
  CHECK(line["latency_us"] == 1500);
  CHECK(line["backend"] == "mem");
  CHECK(line["peer"] == "ipv4:127.0.0.1:5000");
  CHECK(line["traceparent"]
        == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

TEST_CASE("audit lines stay valid JSON whatever the key holds") {
  using namespace std::chrono_literals;
  std::string key = "q\"uote\\back\nline\x01ctl/日本語/\xff\xfe-end";
  auto call = answered_call("cache", kv::get_op{key}, status_code::ok, 1us);
  auto line = nlohmann::json::parse(audit_logic::format_line(*call));
  CHECK(line["key"] == "q\"uote\\back\nline\x01ctl/日本語/\ufffd\ufffd-end");
}

TEST_CASE("the audit file gets every line, each a JSON object with its time") {
  temp_dir dir;
  auto path = dir.path / "sub" / "audit.log";
  {
    file_audit_options opts;
    opts.path = path.string();
    auto sink = make_file_audit_sink(opts);
    for (int i = 0; i < 1000; ++i)
      sink->write(R"({"n":)" + std::to_string(i) + "}");
    CHECK(sink->dropped() == 0);
  } // the writer drains before the sink goes
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 1000);
  for (int i = 0; i < 1000; ++i) {
    auto obj = nlohmann::json::parse(lines[static_cast<size_t>(i)]);
    CHECK(obj["n"] == i);
    CHECK(obj["time"].get<std::string>().size() == 27); // ...T..:..:..ffffffZ
  }
}

TEST_CASE("a full audit queue drops and counts lines instead of waiting") {
  temp_dir dir;
  auto path = dir.path / "audit.log";
  file_audit_options opts;
  opts.path = path.string();
  opts.queue_lines_max = 10;
  opts.batch_lines = 1000;                // never reached: the writer sleeps
  opts.flush_interval = std::chrono::hours(1);
  {
    auto sink = make_file_audit_sink(opts);
    for (int i = 0; i < 15; ++i)
      sink->write(R"({"n":)" + std::to_string(i) + "}");
    CHECK(sink->dropped() == 5);
  }
  CHECK(read_lines(path).size() == 10);
}

TEST_CASE("the audit file rotates by size") {
  temp_dir dir;
  auto path = dir.path / "audit.log";
  file_audit_options opts;
  opts.path = path.string();
  opts.file_bytes_max = 4096;
  opts.files_kept = 2;
  {
    auto sink = make_file_audit_sink(opts);
    for (int i = 0; i < 500; ++i)
      sink->write(R"({"n":)" + std::to_string(i) + "}");
  }
  CHECK(std::filesystem::exists(dir.path / "audit.1.log"));
  CHECK(std::filesystem::file_size(path) <= 4096);
}

TEST_CASE("an audit log that cannot be opened is refused with its path") {
  file_audit_options opts;
  opts.path = "/proc/prism-cannot-write-here/audit.log";
  CHECK_THROWS_WITH(make_file_audit_sink(opts),
                    Catch::Contains("/proc/prism-cannot-write-here/audit.log"));
}
