// The stage kinds on their own: what access allows, what metrics count, what
// audit writes and reserves, and the audit file writer.

#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "middleware/access/access_stage.hpp"
#include "middleware/audit/audit_queue.hpp"
#include "middleware/audit/audit_stage.hpp"
#include "middleware/metrics/metrics_stage.hpp"
#include "model/digest.hpp"

using namespace prism;

namespace {

call_ptr answered_call(std::string ns, model::operation op, status_code code,
                       std::chrono::microseconds latency) {
  request_context rc;
  rc.request_id = "req-1";
  rc.ns = std::move(ns);
  rc.peer = "ipv4:127.0.0.1:5000";
  rc.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  auto call = make_call(std::move(rc), std::move(op), nullptr);
  call->completed_at = call->context.received_at + latency;
  call->backend = "mem";
  call->complete(model::outcome::failure(code, "x"));
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
  auto registry = std::make_shared<metrics_registry>();
  metrics_logic metrics{{"cache"}, registry};
  using namespace std::chrono_literals;
  metrics.on_complete(
    *answered_call("cache", model::get_op{"k"}, status_code::ok, 80us));
  metrics.on_complete(
    *answered_call("cache", model::get_op{"k"}, status_code::ok, 3ms));
  metrics.on_complete(
    *answered_call("other", model::get_op{"k"}, status_code::not_found, 10us));
  auto text = registry->render();
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="OK",namespace="cache",operation="Get"} 2)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="NOT_FOUND",namespace="_unknown",operation="Get"} 1)"));
  // 80 µs falls in the 100 µs bucket, 3 ms only from the 5 ms bucket on.
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="5e-05"} 0)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="0.0001"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="0.0025"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="0.005"} 2)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_request_duration_seconds_bucket{namespace="cache",operation="Get",le="+Inf"} 2)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_request_duration_seconds_count{namespace="cache",operation="Get"} 2)"));
  CHECK_THAT(
    text, Catch::Contains("# TYPE prism_request_duration_seconds histogram"));
}

TEST_CASE("an audit line names the request, its outcome and its latency") {
  using namespace std::chrono_literals;
  auto call = answered_call("cache", model::set_op{"user:42", "v", 0, {}},
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

TEST_CASE("a namespace with redact_keys has the SHA-256 of each key in its "
          "audit lines, others the key") {
  using namespace std::chrono_literals;
  struct lines_sink final : audit_sink {
    std::vector<std::string> lines;
    void write(std::string line) override { lines.push_back(std::move(line)); }
  };
  auto sink = std::make_shared<lines_sink>();
  audit_logic audit{
    sink, {{"private"}, {}}, std::make_shared<metrics_registry>()};
  audit.on_complete(
    *answered_call("private", model::get_op{"user:42"}, status_code::ok, 10us));
  audit.on_complete(
    *answered_call("cache", model::get_op{"user:42"}, status_code::ok, 10us));
  REQUIRE(sink->lines.size() == 2);
  // printf %s user:42 | sha256sum
  CHECK(nlohmann::json::parse(sink->lines[0])["key"]
        == "sha256:" + model::sha256_hex("user:42"));
  CHECK(model::sha256_hex("abc")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sink->lines[0].find("user:42") == std::string::npos);
  CHECK(nlohmann::json::parse(sink->lines[1])["key"] == "user:42");
}

TEST_CASE("audit lines stay valid JSON whatever the key holds") {
  using namespace std::chrono_literals;
  std::string key = "q\"uote\\back\nline\x01ctl/日本語/\xff\xfe-end";
  auto call = answered_call("cache", model::get_op{key}, status_code::ok, 1us);
  auto line = nlohmann::json::parse(audit_logic::format_line(*call));
  CHECK(line["key"] == "q\"uote\\back\nline\x01ctl/日本語/\ufffd\ufffd-end");
}

TEST_CASE("audit lines escape a special byte wherever it falls in a long key") {
  using namespace std::chrono_literals;
  // Keys are scanned eight bytes at a time while no byte needs escaping; a
  // special byte at every offset of a 24-byte key, after and before plain
  // text, must come out the same as anywhere else.
  struct special {
    std::string raw;
    std::string decoded;
  };
  const special specials[] = {
    {"\"", "\""},       {"\\", "\\"},
    {"\n", "\n"},       {std::string(1, '\0'), std::string(1, '\0')},
    {"\x1f", "\x1f"},   {"\x7f", "\x7f"},
    {"\x80", "\ufffd"}, {"\xc3\xa9", "\xc3\xa9"},
    {" ", " "},         {"~", "~"},
  };
  for (const auto& sp : specials)
    for (size_t at = 0; at <= 24; ++at) {
      std::string plain = "abcdefghijklmnopqrstuvwx";
      std::string key = plain.substr(0, at) + sp.raw + plain.substr(at);
      std::string want = plain.substr(0, at) + sp.decoded + plain.substr(at);
      auto call
        = answered_call("cache", model::get_op{key}, status_code::ok, 1us);
      auto text = audit_logic::format_line(*call);
      INFO("byte " << static_cast<int>(static_cast<unsigned char>(sp.raw[0]))
                   << " at " << at << ": " << text);
      CHECK(nlohmann::json::parse(text)["key"] == want);
    }
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
  opts.batch_lines = 1000; // never reached: the writer sleeps
  opts.flush_interval = std::chrono::hours(1);
  {
    auto sink = make_file_audit_sink(opts);
    for (int i = 0; i < 15; ++i)
      sink->write(R"({"n":)" + std::to_string(i) + "}");
    CHECK(sink->dropped() == 5);
  }
  CHECK(read_lines(path).size() == 10);
}

namespace {

/// A sink over an audit queue whose writer is the test: lines wait until
/// write_out() takes them.
struct held_sink final : audit_sink {
  explicit held_sink(size_t lines_max) : queue(lines_max, 1000) {}
  void write(std::string line) override { queue.push(std::move(line)); }
  bool reserve() override { return queue.reserve(); }
  void write_reserved(std::string line) override {
    queue.push_reserved(std::move(line));
  }
  void abandon() override { queue.abandon(); }
  uint64_t dropped() const override { return queue.dropped(); }
  uint64_t backlog() const override { return queue.occupied(); }

  /// Takes every waiting line and gives its room back, as the file writer
  /// does once a batch is written.
  std::vector<std::string> write_out() {
    std::vector<std::string> lines;
    queue.take(lines, std::chrono::milliseconds(0));
    queue.written(lines.size());
    return lines;
  }

  audit_queue queue;
};

call_ptr incoming_call(std::string ns, std::string request_id) {
  request_context rc;
  rc.request_id = std::move(request_id);
  rc.ns = std::move(ns);
  return make_call(std::move(rc), model::get_op{"k"}, nullptr);
}

/// Completes `call` as its session would and shows it to the stage.
void finish(audit_logic& audit, const call_ptr& call, status_code code) {
  call->complete(model::outcome::failure(code, "x"));
  audit.on_complete(*call);
}

} // namespace

TEST_CASE("audit_required: a full audit queue refuses the namespace's calls "
          "before they run, drops and counts the lines of others, and takes "
          "them again once lines are written") {
  auto sink = std::make_shared<held_sink>(3);
  auto registry = std::make_shared<metrics_registry>();
  audit_logic audit{sink, {{}, {"strict"}}, registry};

  // A call of the strict namespace holds room from the stage on.
  auto a = incoming_call("strict", "a");
  REQUIRE(audit.on_request(*a).ok());
  CHECK(sink->backlog() == 1);

  // Others' lines take the rest; past it they are dropped and counted.
  for (auto id : {"l1", "l2", "l3"}) {
    auto call = incoming_call("loose", id);
    REQUIRE(audit.on_request(*call).ok());
    finish(audit, call, status_code::ok);
  }
  CHECK(sink->backlog() == 3);
  CHECK(sink->dropped() == 1);

  // No room: the strict namespace's next call is refused, with the hint.
  auto b = incoming_call("strict", "b");
  auto refused = audit.on_request(*b);
  CHECK(refused.code == status_code::unavailable);
  CHECK(refused.reason == refusal::audit_backlog);
  CHECK(refused.retry_after_ms > 0);
  CHECK_THAT(refused.message, Catch::Contains("audit log's backlog is full"));
  CHECK_THAT(refused.message, Catch::Contains("was not run"));
  CHECK_FALSE(b->audit_reservation);
  CHECK_THAT(
    registry->render(),
    Catch::Contains(R"(prism_audit_refused_total{namespace="strict"} 1)"));

  // The reserved line is written however full the queue is.
  finish(audit, a, status_code::ok);
  CHECK(sink->dropped() == 1);
  auto lines = sink->write_out();
  REQUIRE(lines.size() == 3);
  CHECK(nlohmann::json::parse(lines[2])["request_id"] == "a");
  CHECK(sink->backlog() == 0);

  // Written lines free their room: the namespace is served again.
  auto c = incoming_call("strict", "c");
  CHECK(audit.on_request(*c).ok());
  CHECK(sink->backlog() == 1);
  // A call that ends without its line gives the room back; the line counts
  // as dropped, since its request may have run.
  c.reset();
  CHECK(sink->backlog() == 0);
  CHECK(sink->dropped() == 2);
  CHECK_THAT(registry->render(), Catch::Contains("prism_audit_lines_total 4"));
}

TEST_CASE("the audit file gives a line's room back once it is written") {
  temp_dir dir;
  file_audit_options opts;
  opts.path = (dir.path / "audit.log").string();
  opts.queue_lines_max = 1;
  opts.batch_lines = 1;
  auto sink = make_file_audit_sink(opts);
  REQUIRE(sink->reserve());
  CHECK_FALSE(sink->reserve());
  sink->write_reserved(R"({"n":1})");
  // The writer wakes for the line; its room comes back after the write.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool again = false;
  while (!(again = sink->reserve()) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(again);
  CHECK(read_lines(dir.path / "audit.log").size() == 1);
  CHECK(sink->dropped() == 0);
}

TEST_CASE("the audit file rotates by size") {
  temp_dir dir;
  auto path = dir.path / "audit.log";
  file_audit_options opts;
  opts.path = path.string();
  opts.file_bytes_max = 4096;
  opts.files_kept = 2;
  // About 100 bytes a line: a batch of the writer holds far more than a
  // file may.
  const std::string pad(80, 'x');
  {
    auto sink = make_file_audit_sink(opts);
    for (int i = 0; i < 500; ++i)
      sink->write(R"({"n":)" + std::to_string(i) + R"(,"pad":")" + pad + "\"}");
  }
  CHECK(std::filesystem::exists(dir.path / "audit.1.log"));
  CHECK(std::filesystem::file_size(path) <= 4096);
  CHECK(std::filesystem::file_size(dir.path / "audit.1.log") <= 4096);
  // The newest two files hold the last lines, whole and in order.
  auto older = read_lines(dir.path / "audit.1.log");
  auto newest = read_lines(path);
  std::vector<std::string> lines(older.begin(), older.end());
  lines.insert(lines.end(), newest.begin(), newest.end());
  REQUIRE(lines.size() > 10);
  int expected = 500 - static_cast<int>(lines.size());
  for (auto& line : lines) {
    auto obj = nlohmann::json::parse(line);
    CHECK(obj["n"].get<int>() == expected++);
    CHECK(obj["pad"].get<std::string>() == pad);
  }
}

TEST_CASE("an audit log that cannot be opened is refused with its path") {
  file_audit_options opts;
  opts.path = "/proc/prism-cannot-write-here/audit.log";
  CHECK_THROWS_WITH(make_file_audit_sink(opts),
                    Catch::Contains("/proc/prism-cannot-write-here/audit.log"));
}

TEST_CASE("access: read, write and admin by principal and group, no rules "
          "allows nothing, unknown namespaces pass") {
  config::gateway_config cfg;
  cfg.auth.mode = config::auth_mode::token;
  cfg.auth.groups["ops"] = {"olga", "oscar"};
  auto& cache = cfg.namespaces["cache"];
  cache.access.read = {"rita"};
  cache.access.write = {"ops"};
  cache.access.admin = {"ada"};
  cfg.namespaces["closed"];
  auto registry = std::make_shared<metrics_registry>();
  access_logic access{cfg, registry};
  auto call_as
    = [](std::string principal, std::string ns, model::operation op) {
        request_context rc;
        rc.ns = std::move(ns);
        rc.principal = std::move(principal);
        return make_call(std::move(rc), std::move(op), nullptr);
      };
  auto code = [&](std::string principal, std::string ns, model::operation op) {
    auto call = call_as(std::move(principal), std::move(ns), std::move(op));
    auto st = access.on_request(*call);
    call->complete(model::outcome{st, {}});
    return st.code;
  };
  const model::operation get = model::get_op{"k"};
  const model::operation set = model::set_op{"k", "v", 0, {}};
  const model::operation publish = model::publish_op{"t", "p", {}};
  const model::operation subscribe
    = model::subscribe_op{"t", "", model::start_position::latest};
  CHECK(code("rita", "cache", get) == status_code::ok);
  CHECK(code("rita", "cache", subscribe) == status_code::ok);
  CHECK(code("rita", "cache", set) == status_code::permission_denied);
  CHECK(code("rita", "cache", publish) == status_code::permission_denied);
  CHECK(code("oscar", "cache", set) == status_code::ok); // by group
  CHECK(code("oscar", "cache", get) == status_code::ok); // write reads
  CHECK(code("ada", "cache", set) == status_code::ok); // admin writes
  CHECK(code("ada", "cache", get) == status_code::ok);
  CHECK(code("mallory", "cache", get) == status_code::permission_denied);
  CHECK(code("ada", "closed", get) == status_code::permission_denied);
  CHECK(code("mallory", "nowhere", get) == status_code::ok);
  auto denied = call_as("rita", "cache", model::batch_delete_op{{"a"}});
  auto st = access.on_request(*denied);
  denied->complete(model::outcome{st, {}});
  CHECK(
    st.message
    == "principal \"rita\" may not write namespace \"cache\" (BatchDelete)");
  CHECK_THAT(
    registry->render(),
    Catch::Contains("prism_access_denied_total{namespace=\"cache\"} 4"));
}

TEST_CASE("access: a reload's rules apply to the next call, and the refusals "
          "counted so far stay") {
  config::gateway_config cfg;
  cfg.auth.mode = config::auth_mode::token;
  cfg.namespaces["cache"].access.write = {"olga", "rita"};
  auto registry = std::make_shared<metrics_registry>();
  access_logic access{cfg, registry};
  auto code = [&](std::string principal, std::string ns) {
    request_context rc;
    rc.ns = std::move(ns);
    rc.principal = std::move(principal);
    auto call
      = make_call(std::move(rc), model::set_op{"k", "v", 0, {}}, nullptr);
    auto st = access.on_request(*call);
    call->complete(model::outcome{st, {}});
    return st.code;
  };
  CHECK(code("rita", "cache") == status_code::ok);
  CHECK(code("mallory", "cache") == status_code::permission_denied);
  // rita is revoked, a namespace is added for olga.
  cfg.namespaces["cache"].access.write = {"olga"};
  cfg.namespaces["fresh"].access.write = {"olga"};
  access.reconfigure(cfg);
  CHECK(code("rita", "cache") == status_code::permission_denied);
  CHECK(code("olga", "cache") == status_code::ok);
  CHECK(code("olga", "fresh") == status_code::ok);
  CHECK(code("rita", "fresh") == status_code::permission_denied);
  auto text = registry->render();
  CHECK_THAT(
    text, Catch::Contains("prism_access_denied_total{namespace=\"cache\"} 2"));
  CHECK_THAT(
    text, Catch::Contains("prism_access_denied_total{namespace=\"fresh\"} 1"));
}
