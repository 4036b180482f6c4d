// The binary from the outside: `prism check` and `prism serve` on good and
// bad configs, the gRPC health and reflection services, the admin
// listener's endpoints, and its metrics and audit log after a known
// workload.

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"
#include "model/digest.hpp"

using namespace prism::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// --- protobuf wire format by hand: the health and reflection messages are
// not generated for the tests, and each needs only a field or two.

std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

/// One length-delimited field.
std::string string_field(int number, const std::string& value) {
  return varint(static_cast<uint64_t>(number) << 3 | 2) + varint(value.size())
    + value;
}

/// One field of a message: a varint or length-delimited bytes.
struct wire_field {
  int number = 0;
  bool length_delimited = false;
  uint64_t varint = 0;
  std::string bytes;
};

std::vector<wire_field> parse_fields(const std::string& bytes) {
  google::protobuf::UnknownFieldSet set;
  REQUIRE(set.ParseFromString(bytes));
  std::vector<wire_field> fields;
  for (int i = 0; i < set.field_count(); ++i) {
    const auto& f = set.field(i);
    wire_field w;
    w.number = f.number();
    if (f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      w.length_delimited = true;
      w.bytes = f.length_delimited();
    } else if (f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      w.varint = f.varint();
    }
    fields.push_back(std::move(w));
  }
  return fields;
}

std::vector<std::string> length_delimited(const std::vector<wire_field>& fields,
                                          int number) {
  std::vector<std::string> values;
  for (const auto& f : fields)
    if (f.number == number && f.length_delimited)
      values.push_back(f.bytes);
  return values;
}

grpc::ByteBuffer to_buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string from_buffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const auto& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

/// Waits for `tag` on `cq`; returns the operation's ok flag.
bool await(grpc::CompletionQueue& cq, void* tag) {
  void* got = nullptr;
  bool ok = false;
  auto status = cq.AsyncNext(&got, &ok, std::chrono::system_clock::now() + 10s);
  REQUIRE(status == grpc::CompletionQueue::GOT_EVENT);
  REQUIRE(got == tag);
  return ok;
}

struct raw_reply {
  grpc::Status status;
  std::string bytes;
};

raw_reply unary_call(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  set_deadline(ctx);
  auto call = stub.PrepareUnaryCall(&ctx, method, to_buffer(request), &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  raw_reply reply;
  int tag = 0;
  call->Finish(&response, &reply.status, &tag);
  await(cq, &tag);
  if (reply.status.ok())
    reply.bytes = from_buffer(response);
  cq.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (cq.Next(&ignored_tag, &ignored_ok)) {
  }
  return reply;
}

/// grpc.health.v1.Health/Check for `service`: the status enum, or -1 with
/// the call's failure in `failure`.
int health_status(const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& service, grpc::Status& failure) {
  auto reply
    = unary_call(channel, "/grpc.health.v1.Health/Check",
                 service.empty() ? std::string() : string_field(1, service));
  failure = reply.status;
  if (!reply.status.ok())
    return -1;
  for (const auto& f : parse_fields(reply.bytes))
    if (f.number == 1 && !f.length_delimited)
      return static_cast<int>(f.varint);
  return 0; // proto3 leaves out the default, UNKNOWN
}

/// Sends each request on one ServerReflectionInfo stream and collects the
/// answers.
std::vector<std::string> reflection_exchange(
  const std::shared_ptr<grpc::Channel>& channel,
  const std::vector<std::string>& requests) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  set_deadline(ctx);
  auto call = stub.PrepareCall(
    &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    &cq);
  int start_tag = 0, write_tag = 0, read_tag = 0, done_tag = 0, finish_tag = 0;
  call->StartCall(&start_tag);
  REQUIRE(await(cq, &start_tag));
  std::vector<std::string> answers;
  for (const auto& request : requests) {
    call->Write(to_buffer(request), &write_tag);
    REQUIRE(await(cq, &write_tag));
    grpc::ByteBuffer response;
    call->Read(&response, &read_tag);
    REQUIRE(await(cq, &read_tag));
    answers.push_back(from_buffer(response));
  }
  call->WritesDone(&done_tag);
  await(cq, &done_tag);
  grpc::Status status;
  call->Finish(&status, &finish_tag);
  await(cq, &finish_tag);
  INFO(describe(status));
  CHECK(status.ok());
  cq.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (cq.Next(&ignored_tag, &ignored_ok)) {
  }
  return answers;
}

std::string write_config(const temp_dir& dir, const std::string& name,
                         const std::string& yaml) {
  std::string path = dir.path() + "/" + name;
  write_file(path, yaml);
  return path;
}

/// An unknown backend on line 4.
/// One memory namespace and nothing else.
const char* const memory_config
  = "backends:\n  mem: {type: memory}\nnamespaces:\n  cache: {backend: mem}\n";

const char* const bad_backend_config = R"(backends:
  mem: {type: memory}
namespaces:
  cache: {backend: nosuch}
)";

} // namespace

TEST_CASE("prism check accepts the shipped config", "[e2e][cli]") {
  std::string path = std::string(PRISM_SOURCE_DIR) + "/config/prism.yaml";
  REQUIRE(std::filesystem::exists(path));
  auto r = run_prism({"check", path});
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.status.exited);
  CHECK(r.status.code == 0);
}

TEST_CASE("prism check rejects a bad config and names the file and field",
          "[e2e][cli]") {
  temp_dir dir;
  SECTION("a namespace on an unknown backend") {
    std::string path = write_config(dir, "bad.yaml", bad_backend_config);
    auto r = run_prism({"check", path});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.status.exited);
    CHECK(r.status.code == 1);
    std::regex place(
      std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)")
      + R"(:4:\d+: namespaces\.cache\.backend: )");
    CHECK(std::regex_search(r.out + r.err, place));
  }
  SECTION("an unknown backend type") {
    std::string path = write_config(dir, "bad-type.yaml", R"(backends:
  mem: {type: cassandra}
namespaces:
  cache: {backend: mem}
)");
    auto r = run_prism({"check", path});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.status.code == 1);
    CHECK_THAT(r.out + r.err,
               Catch::Contains(path + ":2:")
                 && Catch::Contains("backends.mem.type"));
  }
  SECTION("YAML that does not parse") {
    std::string path
      = write_config(dir, "broken.yaml", "namespaces: [unclosed\n  cache: {\n");
    auto r = run_prism({"check", path});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.status.code == 1);
    CHECK_THAT(r.out + r.err, Catch::Contains(path));
  }
  SECTION("a file that does not exist") {
    std::string path = dir.path() + "/missing.yaml";
    auto r = run_prism({"check", path});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.status.code == 1);
    CHECK_THAT(r.out + r.err, Catch::Contains(path));
  }
}

TEST_CASE("prism serve refuses a bad config with exit code 1", "[e2e][cli]") {
  temp_dir dir;
  std::string path = write_config(dir, "bad.yaml", bad_backend_config);
  std::string ready = dir.path() + "/ready.json";
  auto r = run_prism({"serve", "--config", path, "--listen", "127.0.0.1:0",
                      "--admin", "127.0.0.1:0", "--ready-file", ready});
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.status.exited);
  CHECK(r.status.code == 1);
  CHECK_THAT(r.err,
             Catch::Contains(path + ":4:")
               && Catch::Contains("namespaces.cache.backend"));
  CHECK_FALSE(std::filesystem::exists(ready));

  // In the JSON log format the problems are log lines too.
  auto json = run_prism({"serve", "--config", path, "--log-format", "json",
                         "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"});
  INFO("stderr (json):\n" << json.err);
  CHECK(json.status.code == 1);
  std::istringstream lines(json.err);
  bool named = false;
  for (std::string line; std::getline(lines, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    CHECK(parsed.is_object());
    if (parsed.is_object()
        && parsed.value("msg", "").find("namespaces.cache.backend")
          != std::string::npos)
      named = true;
  }
  CHECK(named);
}

TEST_CASE("prism serve will not share an address: a second gateway, or an "
          "admin listener on the gRPC one, fails to start",
          "[e2e][cli]") {
  gateway_process first;
  first.start();
  temp_dir dir;
  std::string path = write_config(dir, "mem.yaml", memory_config);
  const std::string taken = "127.0.0.1:" + std::to_string(first.grpc_port());
  const std::string admin_taken
    = "127.0.0.1:" + std::to_string(first.admin_port());
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
    {{"--listen", taken, "--admin", "127.0.0.1:0"},
     "cannot listen for gRPC on " + taken},
    {{"--listen", "127.0.0.1:0", "--admin", taken},
     "cannot listen for admin HTTP on " + taken},
    {{"--listen", "127.0.0.1:0", "--admin", admin_taken},
     "cannot listen for admin HTTP on " + admin_taken},
  };
  for (const auto& [flags, expected] : cases) {
    std::vector<std::string> args = {"serve", "--config", path};
    args.insert(args.end(), flags.begin(), flags.end());
    auto r = run_prism(args);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.status.code == 1);
    CHECK_THAT(r.err, Catch::Contains(expected) && Catch::Contains("in use"));
  }
  // The first one still has every connection.
  kv_client kv(first.channel());
  CHECK(kv.set("cache", "still/here", "v").ok());
  CHECK(kv.get("cache", "still/here").response.found());
}

TEST_CASE("prism serve refuses a --ready-file it could not write, before it "
          "starts",
          "[e2e][cli]") {
  temp_dir dir;
  std::string path = write_config(dir, "mem.yaml", memory_config);
  const std::vector<std::pair<std::string, std::string>> cases = {
    {dir.path() + "/no/such/dir/ready.json", "does not exist"},
    {dir.path(), "is a directory"},
  };
  for (const auto& [ready, expected] : cases) {
    auto r = run_prism({"serve", "--config", path, "--listen", "127.0.0.1:0",
                        "--admin", "127.0.0.1:0", "--ready-file", ready});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.status.exited);
    CHECK(r.status.code == 2);
    CHECK_THAT(r.err,
               Catch::Contains("--ready-file") && Catch::Contains(expected));
  }
}

TEST_CASE("gRPC health reports SERVING", "[e2e][cli][health]") {
  gateway_process gateway;
  gateway.start();
  auto channel = gateway.channel();
  constexpr int serving = 1;
  for (const std::string service : {"", "prism.v1.KeyValue"}) {
    INFO("service '" << service << "'");
    grpc::Status failure;
    int status = health_status(channel, service, failure);
    INFO(describe(failure));
    CHECK(status == serving);
  }
  grpc::Status failure;
  CHECK(health_status(channel, "no.such.Service", failure) == -1);
  CHECK(failure.error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("Server reflection lists and describes prism.v1.KeyValue",
          "[e2e][cli][reflection]") {
  gateway_process gateway;
  gateway.start();
  // ServerReflectionRequest: list_services = 7, file_containing_symbol = 4.
  auto answers = reflection_exchange(
    gateway.channel(),
    {string_field(7, "*"), string_field(4, "prism.v1.KeyValue")});
  REQUIRE(answers.size() == 2);

  // ServerReflectionResponse.list_services_response = 6 -> service = 1 -> name = 1.
  std::set<std::string> services;
  auto listed = length_delimited(parse_fields(answers[0]), 6);
  REQUIRE(listed.size() == 1);
  for (const auto& service : length_delimited(parse_fields(listed[0]), 1))
    for (const auto& name : length_delimited(parse_fields(service), 1))
      services.insert(name);
  CHECK(services.count("prism.v1.KeyValue") == 1);
  CHECK(services.count("grpc.health.v1.Health") == 1);

  // file_descriptor_response = 4 -> file_descriptor_proto = 1 (serialized).
  auto described = length_delimited(parse_fields(answers[1]), 4);
  REQUIRE(described.size() == 1);
  bool found = false;
  for (const auto& bytes : length_delimited(parse_fields(described[0]), 1)) {
    google::protobuf::FileDescriptorProto file;
    REQUIRE(file.ParseFromString(bytes));
    if (file.package() != "prism.v1")
      continue;
    for (const auto& service : file.service()) {
      if (service.name() != "KeyValue")
        continue;
      found = true;
      std::set<std::string> methods;
      for (const auto& m : service.method())
        methods.insert(m.name());
      CHECK(methods
            == std::set<std::string>{"Get", "Set", "Delete", "Exists",
                                     "BatchGet", "BatchSet", "BatchDelete",
                                     "Scan"});
    }
  }
  CHECK(found);
}

TEST_CASE("Admin endpoints answer", "[e2e][cli][admin]") {
  gateway_process gateway;
  gateway.start();
  auto healthz = http_get(gateway.admin_port(), "/healthz");
  CHECK(healthz.status == 200);
  auto readyz = http_get(gateway.admin_port(), "/readyz");
  CHECK(readyz.status == 200);
  auto metrics = http_get(gateway.admin_port(), "/metrics");
  CHECK(metrics.status == 200);
  CHECK_FALSE(metrics.body.empty());
  auto missing = http_get(gateway.admin_port(), "/no-such-endpoint");
  CHECK(missing.status == 404);
}

TEST_CASE("Admin probes get through while idle clients hold connections",
          "[e2e][cli][admin]") {
  gateway_process gateway;
  gateway.start();
  // Connections that start a request and never finish it, more than a
  // small pool of workers would have.
  std::vector<int> idle;
  for (int i = 0; i < 24; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    idle.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(gateway.admin_port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
            == 0);
    const std::string partial = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    REQUIRE(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL)
            == static_cast<ssize_t>(partial.size()));
  }
  // Each probe must be answered well before an idle connection is let go.
  for (int i = 0; i < 3; ++i) {
    auto healthz = http_get(gateway.admin_port(), "/healthz", 1500ms);
    CHECK(healthz.status == 200);
  }
  for (int fd : idle)
    ::close(fd);
}

namespace {

/// The standard namespaces plus one with a rate limit that refuses its third
/// call, and one whose requests must be audited (with redacted keys).
std::string workload_config() {
  return standard_config()
    + "  limited: {backend: mem, rate_limit: {rate: 0.001, burst: 2}}\n"
      "  strict: {backend: mem, audit_required: true, redact_keys: true}\n";
}

/// One request of the workload and what it got.
struct made_request {
  std::string id;
  std::string ns;
  std::string operation;
  std::string key;
  grpc::StatusCode code;
};

using label_set = std::map<std::string, std::string>;

} // namespace

TEST_CASE("Metrics and audit lines account for a known workload",
          "[e2e][cli][admin][metrics][audit]") {
  gateway_process gateway(workload_config());
  gateway.start();
  kv_client kv(gateway.channel());
  std::vector<made_request> made;
  auto get = [&](const std::string& ns, const std::string& key) {
    std::string id = "wl-" + std::to_string(made.size());
    kv.set_request_id(id);
    made.push_back({id, ns, "Get", key, kv.get(ns, key).status.error_code()});
  };
  auto set = [&](const std::string& ns, const std::string& key,
                 const std::string& value) {
    std::string id = "wl-" + std::to_string(made.size());
    kv.set_request_id(id);
    made.push_back(
      {id, ns, "Set", key, kv.set(ns, key, value).status.error_code()});
  };
  for (int i = 0; i < 5; ++i)
    set("cache", "m/" + std::to_string(i), "v");
  for (int i = 0; i < 3; ++i)
    get("cache", "m/" + std::to_string(i));
  for (int i = 0; i < 4; ++i)
    get("default", "m/" + std::to_string(i));
  get("nowhere", "m/0"); // NOT_FOUND
  get("nowhere", "m/1");
  set("small", "big", std::string(2000, 'x')); // INVALID_ARGUMENT (router)
  set("cache", "", "v"); // INVALID_ARGUMENT (front end)
  for (int i = 0; i < 3; ++i)
    get("limited", "m/" + std::to_string(i)); // the third is rate limited
  set("strict", "secret/1", "v");
  set("strict", "secret/2", "v");

  using code = grpc::StatusCode;
  for (const auto& r : made) {
    INFO(r.id << " " << r.operation << " " << r.ns << "/" << r.key);
    auto expected = r.ns == "nowhere"    ? code::NOT_FOUND
      : r.ns == "small" || r.key.empty() ? code::INVALID_ARGUMENT
      : r.id == "wl-18"                  ? code::RESOURCE_EXHAUSTED
                                         : code::OK;
    REQUIRE(r.code == expected);
  }

  const std::map<std::pair<std::string, label_set>, double> expected = {
    {{"prism_requests_total",
      {{"namespace", "cache"}, {"operation", "Set"}, {"code", "OK"}}},
     5},
    {{"prism_requests_total",
      {{"namespace", "cache"},
       {"operation", "Set"},
       {"code", "INVALID_ARGUMENT"}}},
     1},
    {{"prism_requests_total",
      {{"namespace", "cache"}, {"operation", "Get"}, {"code", "OK"}}},
     3},
    {{"prism_requests_total",
      {{"namespace", "default"}, {"operation", "Get"}, {"code", "OK"}}},
     4},
    {{"prism_requests_total",
      {{"namespace", "_unknown"}, {"operation", "Get"}, {"code", "NOT_FOUND"}}},
     2},
    {{"prism_requests_total",
      {{"namespace", "small"},
       {"operation", "Set"},
       {"code", "INVALID_ARGUMENT"}}},
     1},
    {{"prism_requests_total",
      {{"namespace", "limited"}, {"operation", "Get"}, {"code", "OK"}}},
     2},
    {{"prism_requests_total",
      {{"namespace", "limited"},
       {"operation", "Get"},
       {"code", "RESOURCE_EXHAUSTED"}}},
     1},
    {{"prism_requests_total",
      {{"namespace", "strict"}, {"operation", "Set"}, {"code", "OK"}}},
     2},
    // Histograms: one observation per answered request, +Inf included.
    {{"prism_request_duration_seconds_count",
      {{"namespace", "cache"}, {"operation", "Set"}}},
     6},
    {{"prism_request_duration_seconds_bucket",
      {{"namespace", "cache"}, {"operation", "Set"}, {"le", "+Inf"}}},
     6},
    {{"prism_request_duration_seconds_count",
      {{"namespace", "default"}, {"operation", "Get"}}},
     4},
    {{"prism_request_duration_seconds_count",
      {{"namespace", "_unknown"}, {"operation", "Get"}}},
     2},
    {{"prism_requests_in_flight", {}}, 0},
    // Refusals by reason, whatever stage or actor refused.
    {{"prism_rejections_total",
      {{"namespace", "limited"}, {"reason", "rate_limit"}}},
     1},
    {{"prism_rejections_total",
      {{"namespace", "cache"}, {"reason", "mailbox_full"}}},
     0},
    {{"prism_rejections_total",
      {{"namespace", "cache"}, {"reason", "circuit_open"}}},
     0},
    {{"prism_rejections_total",
      {{"namespace", "cache"}, {"reason", "deadline"}}},
     0},
    {{"prism_rejections_total",
      {{"namespace", "strict"}, {"reason", "audit_backlog"}}},
     0},
    {{"prism_rate_limited_total", {{"namespace", "limited"}}}, 1},
    {{"prism_stage_calls_total",
      {{"stage", "rate_limit"}, {"verdict", "rejected"}}},
     1},
    // The memory pool: one connection, idle once everything is answered.
    {{"prism_pool_connections", {{"backend", "mem"}}}, 1},
    {{"prism_pool_connections_active", {{"backend", "mem"}}}, 0},
    {{"prism_pool_connections_idle", {{"backend", "mem"}}}, 1},
    {{"prism_pool_requests_waiting", {{"backend", "mem"}}}, 0},
    {{"prism_pool_connections", {{"backend", "local"}}}, 4},
    {{"prism_supervisor_restarts", {{"supervisor", "gateway"}}}, 0},
    {{"prism_actors", {{"kind", "router"}}}, 1},
    // Every request has its line; none was dropped or refused.
    {{"prism_audit_lines_total", {}}, 21},
    {{"prism_audit_lines_dropped_total", {}}, 0},
    {{"prism_audit_refused_total", {{"namespace", "strict"}}}, 0},
  };
  REQUIRE(made.size() == 21);
  // Counters are updated just after the answer went out: poll until they
  // add up (or fail with what they say).
  std::string body;
  std::vector<scraped_sample> samples;
  auto all_match = [&] {
    auto metrics = http_get(gateway.admin_port(), "/metrics");
    REQUIRE(metrics.status == 200);
    body = metrics.body;
    samples = parse_metrics(body);
    for (const auto& [series, value] : expected)
      if (metric_value(samples, series.first, series.second) != value)
        return false;
    return true;
  };
  bool matched = eventually(all_match, 5s);
  INFO("/metrics:\n" << body);
  if (!matched)
    for (const auto& [series, value] : expected) {
      std::ostringstream name;
      name << series.first << "{";
      for (const auto& [k, v] : series.second)
        name << k << "=\"" << v << "\",";
      name << "}";
      INFO(name.str());
      CHECK(metric_value(samples, series.first, series.second) == value);
    }
  CHECK(matched);
  // The mailbox high-water marks saw the requests go through.
  CHECK(metric_value(samples, "prism_actor_mailbox_high_water",
                     {{"kind", "session"}})
        >= 1);
  CHECK(metric_value(samples, "prism_actor_mailbox_depth", {{"kind", "router"}})
        == 0);

  // The audit log, complete once the gateway has stopped: one line per
  // request, matched by request id.
  REQUIRE(gateway.stop().code == 0);
  std::map<std::string, nlohmann::json> lines;
  std::istringstream log(read_file(gateway.dir() + "/audit.log"));
  for (std::string line; std::getline(log, line);) {
    INFO("audit line: " << line);
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    REQUIRE(parsed.is_object());
    auto id = parsed.at("request_id").get<std::string>();
    CHECK(lines.count(id) == 0);
    lines[id] = parsed;
  }
  CHECK(lines.size() == made.size());
  static const std::map<grpc::StatusCode, std::string> code_names
    = {{code::OK, "OK"},
       {code::NOT_FOUND, "NOT_FOUND"},
       {code::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
       {code::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"}};
  for (const auto& r : made) {
    INFO("request " << r.id);
    REQUIRE(lines.count(r.id) == 1);
    const auto& line = lines.at(r.id);
    CHECK(line.at("namespace") == r.ns);
    CHECK(line.at("operation") == r.operation);
    CHECK(line.at("code") == code_names.at(r.code));
    CHECK(line.at("key")
          == (r.ns == "strict" ? "sha256:" + prism::model::sha256_hex(r.key)
                               : r.key));
    CHECK(line.at("latency_us").get<int64_t>() >= 0);
    CHECK(line.at("time").get<std::string>().size() == 27);
    CHECK_FALSE(line.at("peer").get<std::string>().empty());
    // Only calls the router sent on name their backend.
    CHECK(line.at("backend")
          == (r.code != code::OK    ? ""
                : r.ns == "default" ? "local"
                                    : "mem"));
  }
}

TEST_CASE("With --log-format json every log line is one JSON object",
          "[e2e][cli]") {
  gateway_process gateway(standard_config(), {"--log-format", "json"});
  gateway.start();
  {
    kv_client kv(gateway.channel());
    REQUIRE(kv.set("cache", "log/k", "v").ok());
    // A key that is not UTF-8 makes the request unparsable for the
    // server's protobuf library, which logs it: in the gateway's format,
    // and once however often a client sends one.
    for (int i = 0; i < 3; ++i) {
      auto bad = kv.get("cache", "log/\xff\xfe");
      CHECK(bad.status.error_code() == grpc::StatusCode::INTERNAL);
      CHECK(bad.status.error_message() == "Unable to parse request");
    }
    REQUIRE(kv.get("cache", "log/k").ok());
  }
  auto ended = gateway.stop();
  CHECK(ended.code == 0);
  std::istringstream log(read_file(gateway.log_path()));
  std::string line;
  int json_lines = 0;
  int protobuf_lines = 0;
  while (std::getline(log, line)) {
    if (line.empty() || line.rfind("=== ", 0) == 0)
      continue; // the harness's own banner
    INFO("log line: " << line);
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    CHECK(parsed.is_object());
    ++json_lines;
    if (parsed.is_object()
        && parsed.value("msg", "").find("libprotobuf") != std::string::npos) {
      ++protobuf_lines;
      CHECK(parsed.value("level", "") == "warning");
    }
  }
  CHECK(json_lines > 0);
  CHECK(protobuf_lines == 1);
}

TEST_CASE("an unknown command is named with the choices", "[e2e][cli]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
    {{"foo"},
     "unknown command \"foo\" for `prism`; use one of: serve, check, kv, pubsub, simulate, console, bench"},
    {{"kv", "--target", "127.0.0.1:1", "frob"},
     "unknown command \"frob\" for `prism kv`; use one of: get, set"},
  };
  for (const auto& [args, expected] : cases) {
    auto r = run_prism(args);
    INFO("stderr:\n" << r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.status.code == 2);
    CHECK_THAT(r.err, Catch::Contains(expected));
  }
  // Without any word, CLI11's own message stays.
  auto none = run_prism({"kv"});
  CHECK(none.status.code == 2);
  CHECK_THAT(none.err, Catch::Contains("A subcommand is required"));
}

TEST_CASE("prism kv and pubsub refuse values they cannot send, naming them",
          "[e2e][cli]") {
  // Checked before anything connects: no server is needed.
  const std::string target = "127.0.0.1:1";
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
    {{"kv", "--target", target, "set", "cache", "k", "v", "--ttl-ms=-1"},
     "--ttl-ms"},
    {{"kv", "--target", target, "set", "cache", "k", "v",
      "--ttl-ms=18446744073709551616"},
     "--ttl-ms"},
    {{"kv", "--target", target, "set", "cache", "k", "v", "--if-version=-1"},
     "--if-version"},
    {{"kv", "--target", target, "--request-id", "two\nlines", "get", "cache",
      "k"},
     "--request-id"},
    {{"kv", "--target", target, "--request-id", "a b", "get", "cache", "k"},
     "--request-id"},
    {{"kv", "--target", target, "--request-id", std::string(129, 'r'), "get",
      "cache", "k"},
     "--request-id"},
    {{"pubsub", "--target", target, "subscribe", "events", "t", "-n", "-1"},
     "--count"},
  };
  for (const auto& [args, flag] : bad) {
    auto r = run_prism(args);
    INFO(args.back() << "\nstderr:\n" << r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.status.code == 2);
    CHECK_THAT(r.err, Catch::Contains(flag));
  }
  ::setenv("PRISM_TOKEN", "secret\r", 1);
  auto r = run_prism({"kv", "--target", target, "get", "cache", "k"});
  ::unsetenv("PRISM_TOKEN");
  INFO("stderr:\n" << r.err);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.status.code == 2);
  CHECK_THAT(r.err,
             Catch::Contains("PRISM_TOKEN") && Catch::Contains("line break"));
}

TEST_CASE("prism bench refuses bad --rate and --max-outstanding values",
          "[e2e][cli][bench]") {
  // Checked before anything connects: no server is needed.
  const std::vector<std::pair<std::string, std::string>> bad = {
    {"--rate", "-1"},
    {"--rate", "abc"},
    {"--rate", "12x"},
    {"--rate", "1e9"},
    {"--rate", "nan"},
    {"--rate", "inf"},
    {"--rate", "2000000"},
    {"--max-outstanding", "0"},
    {"--max-outstanding", "-5"},
    {"--max-outstanding", "1.5"},
    {"--max-outstanding", "many"},
    {"--max-outstanding", "2000000"},
  };
  for (const auto& [flag, value] : bad) {
    auto r
      = run_prism({"bench", "--target", "127.0.0.1:1", flag + "=" + value});
    INFO(flag << "=" << value << "\nstdout:\n"
              << r.out << "\nstderr:\n"
              << r.err);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.status.exited);
    CHECK(r.status.code == 2);
    CHECK_THAT(r.err, Catch::Contains("prism bench: " + flag + ": "));
  }
}

TEST_CASE("prism bench --rate runs an open loop whose counts add up",
          "[e2e][cli][bench]") {
  gateway_process gateway;
  gateway.start();
  // Two channels with --concurrency left at 1: the closed loop's rule (no
  // more channels than outstanding calls) does not apply to the open loop.
  auto r = run_prism(
    {"bench", "--target", "127.0.0.1:" + std::to_string(gateway.grpc_port()),
     "--namespace", "cache", "--rpc", "set", "--rate", "200", "--channels", "2",
     "--duration", "1", "--warmup", "0.2", "--json"},
    60s);
  INFO("stdout:\n"
       << r.out << "\nstderr:\n"
       << r.err << "\ngateway log:\n"
       << gateway.log_tail());
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.status.exited);
  CHECK(r.status.code == 0);
  auto report = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(report.is_object());

  CHECK(report.at("mode") == "open");
  CHECK(report.at("rate").get<double>() == 200.0);
  CHECK(report.at("channels").get<int>() == 2);
  for (const char* field :
       {"offered", "offered_rps", "sent", "client_dropped", "client_behind",
        "rejected", "rejected_rps", "retry_hints", "other_error_count",
        "rejected_p50_us", "rejected_p99_us", "send_lag_p99_us"})
    CHECK(report.contains(field));

  // Every call due in the window was sent or dropped by the client, and
  // every call sent was answered OK or with an error.
  uint64_t errors = 0;
  for (const auto& [code, count] : report.at("errors").items())
    errors += count.get<uint64_t>();
  const auto offered = report.at("offered").get<uint64_t>();
  const auto sent = report.at("sent").get<uint64_t>();
  const auto dropped = report.at("client_dropped").get<uint64_t>();
  CHECK(sent + dropped == offered);
  CHECK(report.at("requests").get<uint64_t>() + errors == sent);
  CHECK(report.at("requests").get<uint64_t>() + errors + dropped == offered);
  CHECK(report.at("error_count").get<uint64_t>() == errors);
  CHECK(report.at("rejected").get<uint64_t>() <= errors);

  // 200 calls/s for 1 s: the client reaches (nearly) all of them, unless the
  // shared machine stalls it for a long time; keep the bounds wide.
  const auto behind = report.at("client_behind").get<uint64_t>();
  CHECK(offered + behind >= 190);
  CHECK(offered + behind <= 210);
  CHECK(offered >= 100);
  CHECK(report.at("offered_rps").get<double>() >= 100.0);
  CHECK(report.at("offered_rps").get<double>() <= 210.0);
  CHECK(report.at("requests").get<uint64_t>() > 0);
}
