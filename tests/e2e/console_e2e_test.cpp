// `prism console` against a real `prism serve` with calls running: one
// command at a time with -c (tree, top, info, kill and the restart, slowlog,
// pools, ns, clients, stats, warnings, config, log, trace, follow, --json,
// errors), a recorded `prism simulate` run walked with commands piped in,
// and the prompt itself through a pseudo-terminal (tab completion, history
// kept across runs, Ctrl-C ending a watch).

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

/// Clients writing to the SQLite and memory namespaces until destroyed, so
/// that the actors have work while the console looks at them.
class load {
public:
  explicit load(gateway_process& gw) {
    for (int c = 0; c < client_count; ++c)
      threads_.emplace_back([this, c, channel = gw.channel()] {
        kv_client kv{channel, 10s};
        for (uint64_t n = 0; !stop_.load(); ++n) {
          auto key = "c" + std::to_string(c) + "-" + std::to_string(n % 100);
          if (kv.set(c % 2 == 0 ? "default" : "cache", key, "value").ok())
            calls_.fetch_add(1);
        }
      });
  }
  ~load() {
    stop_.store(true);
    for (auto& t : threads_)
      t.join();
  }
  load(const load&) = delete;
  load& operator=(const load&) = delete;

  uint64_t calls() const { return calls_.load(); }

private:
  static constexpr int client_count = 4;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> calls_{0};
  std::vector<std::thread> threads_;
};

std::vector<std::string> console_args(gateway_process& gw,
                                      std::vector<std::string> args) {
  std::vector<std::string> all{"console", "--admin",
                               "127.0.0.1:" + std::to_string(gw.admin_port())};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

command_result console(gateway_process& gw, std::vector<std::string> args) {
  return run_prism(console_args(gw, std::move(args)), 30s);
}

/// The line of `text` that contains `part`, or "".
std::string line_with(const std::string& text, const std::string& part) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(part) != std::string::npos)
      return line;
  return "";
}

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    words.push_back(w);
  return words;
}

/// The words of the line of `text` whose first word is `first`, or none.
std::vector<std::string> row_of(const std::string& text,
                                const std::string& first) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto words = words_of(line);
    if (!words.empty() && words[0] == first)
      return words;
  }
  return {};
}

/// The `back`-th word from the end of `row` as a number (1: the last).
uint64_t from_end(const std::vector<std::string>& row, size_t back) {
  REQUIRE(row.size() >= back);
  return std::stoull(row[row.size() - back]);
}

/// Whether `parts` occur in `text` one after the other.
bool in_order(const std::string& text, const std::vector<std::string>& parts) {
  size_t at = 0;
  for (const auto& part : parts) {
    at = text.find(part, at);
    if (at == std::string::npos)
      return false;
    at += part.size();
  }
  return true;
}

} // namespace

TEST_CASE("console -c: tree, top, info and --json on a gateway under load",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  load calls(gw);
  REQUIRE(eventually([&] { return calls.calls() >= 50; }, 20s));

  auto tree = console(gw, {"-c", "tree"});
  INFO(tree.out << tree.err);
  CHECK(tree.status.exited);
  CHECK(tree.status.code == 0);
  // The root comes right under the header.
  CHECK(tree.out.find("\nsupervisor:gateway ") == tree.out.find('\n'));
  CHECK(line_with(tree.out, "├─ supervisor:backends") != "");
  CHECK(line_with(tree.out, "connection:local#0") != "");
  CHECK(line_with(tree.out, "router:router") != "");
  auto backends = console(gw, {"-c", "tree supervisor:backends --depth 1"});
  CHECK(backends.status.code == 0);
  CHECK(line_with(backends.out, "pool:local (+") != "");
  CHECK(line_with(backends.out, "connection:local#0") == "");

  auto top = console(gw, {"-c", "top --sort mailbox"});
  INFO(top.out << top.err);
  CHECK(top.status.code == 0);
  CHECK(top.out.rfind("top ", 0) == 0);
  CHECK(line_with(top.out, "by mailbox") != "");
  CHECK(line_with(top.out, "ID  ACTOR") != "");

  // Over a window, the pools the clients write through handle messages.
  auto rate = console(gw, {"-c", "top --sort rate --window 1s -n 50"});
  INFO(rate.out << rate.err);
  CHECK(rate.status.code == 0);
  auto pool_row = words_of(line_with(rate.out, " pool:local "));
  REQUIRE(pool_row.size() >= 7);
  CHECK(pool_row[1] == "pool:local");
  CHECK(std::stod(pool_row[6]) > 0); // MSG/S

  auto info = console(gw, {"-c", "info pool:local"});
  INFO(info.out << info.err);
  CHECK(info.status.code == 0);
  CHECK(line_with(info.out, "pool:local (") != "");
  CHECK(line_with(info.out, "parent").find("supervisor:backends")
        != std::string::npos);
  CHECK(line_with(info.out, "messages/s").find("over the last")
        != std::string::npos);
  CHECK(line_with(info.out, "last failure") != "");

  auto json_tree = console(gw, {"-c", "tree", "--json"});
  CHECK(json_tree.status.code == 0);
  auto parsed = nlohmann::json::parse(json_tree.out);
  CHECK(parsed["actors"].is_array());
  CHECK(parsed["count"].get<int>() > 5);
  auto json_top = console(gw, {"--json", "-c", "top"});
  CHECK(json_top.status.code == 0);
  CHECK(nlohmann::json::parse(json_top.out)["actors"].size()
        == parsed["count"].get<size_t>());
}

TEST_CASE("console -c kill shows the supervisor's restart", "[console][e2e]") {
  gateway_process gw;
  gw.start();
  load calls(gw);
  REQUIRE(eventually([&] { return calls.calls() >= 50; }, 20s));
  auto victim = find_actor(actor_list(gw), "connection", "local#1");
  REQUIRE(!victim.is_null());
  auto old_id = victim["id"].get<uint64_t>();

  auto kill = console(gw, {"-c", "kill connection:local#1"});
  INFO(kill.out << kill.err);
  CHECK(kill.status.code == 0);
  CHECK(line_with(kill.out,
                  "killed connection:local#1 (" + std::to_string(old_id) + ")")
        != "");
  std::smatch m;
  auto restarted = line_with(kill.out, "restarted as");
  REQUIRE(std::regex_search(
    restarted, m,
    std::regex(R"(restarted as connection:local#1 \((\d+)\) after )")));
  auto new_id = std::stoull(m[1].str());
  CHECK(new_id > old_id);
  CHECK(line_with(kill.out, "restarts: ") != "");
  // The gateway agrees: the new id is the connection now.
  auto now = find_actor(actor_list(gw), "connection", "local#1");
  REQUIRE(!now.is_null());
  CHECK(now["id"].get<uint64_t>() == new_id);
  CHECK(now["last_failure"].is_object());

  // A name no actor has is refused before anything is killed.
  auto unknown = console(gw, {"-c", "kill connection:local#9"});
  CHECK(unknown.status.code == 1);
  CHECK(unknown.err.find("no actor is called \"connection:local#9\"")
        != std::string::npos);
}

TEST_CASE("console -c slowlog shows slow calls with their hops",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  auto threshold = console(gw, {"-c", "slowlog threshold 0"});
  CHECK(threshold.status.code == 0);
  CHECK(threshold.out.find("slow log threshold: 0 ms") == 0);
  load calls(gw);
  REQUIRE(eventually(
    [&] {
      auto answer = http_get(gw.admin_port(), "/debug/slowlog");
      return answer.status == 200
        && nlohmann::json::parse(answer.body)["count"].get<int>() >= 3;
    },
    20s));
  auto slow = console(gw, {"-c", "slowlog get 3"});
  INFO(slow.out << slow.err);
  CHECK(slow.status.code == 0);
  CHECK(slow.out.find("slow log: ") == 0);
  CHECK(line_with(slow.out, "; the newest 3") != "");
  CHECK(line_with(slow.out, "AGO  NAMESPACE") != "");
  CHECK(line_with(slow.out, "    session ") != "");
  CHECK(line_with(slow.out, "| router ") != "");
  auto json_slow = console(gw, {"--json", "-c", "slowlog"});
  CHECK(nlohmann::json::parse(json_slow.out)["threshold_ms"] == 0);
  auto reset = console(gw, {"-c", "slowlog reset"});
  CHECK(reset.status.code == 0);
  CHECK(reset.out.find("slow log cleared") == 0);
}

TEST_CASE("console --token: a kill needs an admin's token when auth is on",
          "[console][e2e]") {
  // root's token is "admin-token"; the config lists its SHA-256.
  gateway_process gw{R"(
auth:
  mode: token
  tokens:
    root: 10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a
  admins: [root]
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem}
)"};
  gw.start();
  auto denied = console(gw, {"-c", "kill connection:mem#0"});
  CHECK(denied.status.code == 1);
  CHECK(denied.err.find("(POST /debug/actors/") != std::string::npos);
  CHECK(denied.err.find("answered 403); pass --token with an admin's token")
        != std::string::npos);
  auto wrong = console(gw, {"--token", "not-a-token", "-c", "slowlog reset"});
  CHECK(wrong.status.code == 1);
  auto allowed
    = console(gw, {"--token", "admin-token", "-c", "kill connection:mem#0"});
  INFO(allowed.out << allowed.err);
  CHECK(allowed.status.code == 0);
  CHECK(allowed.out.find("restarted as connection:mem#0 (")
        != std::string::npos);
  // Reads need no token.
  CHECK(console(gw, {"-c", "tree"}).status.code == 0);
}

TEST_CASE("console -c exit codes: no listener, bad command, bad flags",
          "[console][e2e]") {
  // A port nothing listens on: bind one, note it, close it.
  gateway_process gw;
  gw.start();
  auto port = gw.admin_port();
  gw.stop();
  auto refused = run_prism(
    {"console", "--admin", "127.0.0.1:" + std::to_string(port), "-c", "tree"});
  CHECK(refused.status.code == 1);
  CHECK(refused.err
        == "tree: no admin listener at 127.0.0.1:" + std::to_string(port)
          + ": connection refused (start `prism serve` or pass --admin "
            "HOST:PORT)\n");
  auto unknown = run_prism({"console", "-c", "tpo"});
  CHECK(unknown.status.code == 2);
  CHECK(unknown.err.find("did you mean `top`?") != std::string::npos);
  auto flag = run_prism({"console", "-c", "top --sort size"});
  CHECK(flag.status.code == 2);
  CHECK(flag.err.find("--sort takes") != std::string::npos);
  auto address = run_prism({"console", "--admin", "localhost", "-c", "tree"});
  CHECK(address.status.code == 2);
  CHECK(address.err.find("--admin takes HOST:PORT") != std::string::npos);
}

TEST_CASE("console -c pools, pool, ns, clients and stats on a gateway under "
          "load",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  load calls(gw);
  REQUIRE(eventually([&] { return calls.calls() >= 50; }, 20s));

  // BACKEND DRIVER SIZE ACTIVE IDLE DOWN WAITING MAX WAIT SERVED ERRORS
  // RECONNECTS CIRCUIT: counted from the end, as MAX WAIT is two words.
  auto pools = console(gw, {"-c", "pools"});
  INFO(pools.out << pools.err);
  CHECK(pools.status.code == 0);
  auto local = row_of(pools.out, "local");
  auto mem = row_of(pools.out, "mem");
  REQUIRE(local.size() == 13);
  REQUIRE(mem.size() == 13);
  CHECK(local[1] == "sqlite");
  CHECK(local[2] == "4");
  CHECK(std::stoull(local[3]) + std::stoull(local[4]) + std::stoull(local[5])
        == 4);
  CHECK(local[6] == "0/1024");
  CHECK(local.back() == "closed");
  CHECK(mem[1] == "memory");
  CHECK(mem[2] == "1");
  // Both pools serve the clients, so both counts grow.
  auto local_served = from_end(local, 4);
  auto mem_served = from_end(mem, 4);
  command_result later;
  CHECK(eventually(
    [&] {
      later = console(gw, {"-c", "pools"});
      auto l = row_of(later.out, "local");
      auto m = row_of(later.out, "mem");
      return l.size() == 13 && m.size() == 13 && from_end(l, 4) > local_served
        && from_end(m, 4) > mem_served;
    },
    10s));

  auto pool = console(gw, {"-c", "pool local"});
  INFO(pool.out << pool.err);
  CHECK(pool.status.code == 0);
  auto pool_actor = find_actor(actor_list(gw), "pool", "local");
  REQUIRE(!pool_actor.is_null());
  CHECK(pool.out.rfind("pool local (sqlite, actor "
                         + std::to_string(pool_actor["id"].get<uint64_t>())
                         + ")\n",
                       0)
        == 0);
  CHECK(line_with(pool.out, "  connections  4 (") != "");
  auto served = words_of(line_with(pool.out, "  served "));
  REQUIRE(served.size() == 2);
  CHECK(std::stoull(served[1]) >= local_served);
  CHECK(line_with(pool.out, "  circuit      closed") != "");
  auto misspelt = console(gw, {"-c", "pool lcal"});
  CHECK(misspelt.status.code == 1);
  CHECK(misspelt.err.find("no pool for a backend \"lcal\"; did you mean local?")
        != std::string::npos);

  // NAMESPACE BACKEND API REQ/S ...: both loaded namespaces answer calls.
  auto ns = console(gw, {"-c", "ns"});
  INFO(ns.out << ns.err);
  CHECK(ns.status.code == 0);
  CHECK(ns.out.rfind("over the last ", 0) == 0);
  auto def = row_of(ns.out, "default");
  auto cache = row_of(ns.out, "cache");
  REQUIRE(def.size() >= 4);
  REQUIRE(cache.size() >= 4);
  CHECK(def[1] == "local");
  CHECK(def[2] == "keyvalue");
  CHECK(std::stod(def[3]) > 0);
  CHECK(cache[1] == "mem");
  CHECK(std::stod(cache[3]) > 0);
  CHECK(row_of(ns.out, "_unknown").size() >= 2);

  auto one = console(gw, {"-c", "ns default --window 500ms"});
  INFO(one.out << one.err);
  CHECK(one.status.code == 0);
  CHECK(
    one.out.rfind("namespace default (keyvalue on local), over the last ", 0)
    == 0);
  auto rate = words_of(line_with(one.out, "  requests/s "));
  REQUIRE(rate.size() == 2);
  CHECK(std::stod(rate[1]) > 0);
  std::smatch m;
  auto codes = line_with(one.out, "  by code ");
  REQUIRE(std::regex_search(codes, m, std::regex(R"(by code\s+OK (\d+))")));
  CHECK(std::stoull(m[1].str()) > 0);
  CHECK(line_with(one.out, "  rejected   audit_backlog 0") != "");

  // ACTOR PEER PRINCIPAL AGE IN FLIGHT STREAMS CALLS: one session a
  // client, each making one blocking call at a time.
  auto before = calls.calls();
  auto clients = console(gw, {"-c", "clients"});
  INFO(clients.out << clients.err);
  CHECK(clients.status.code == 0);
  CHECK(line_with(clients.out, "IN FLIGHT  STREAMS  CALLS") != "");
  auto sessions = actor_list(gw);
  uint64_t total_calls = 0;
  int rows = 0;
  std::istringstream lines(clients.out);
  for (std::string line; std::getline(lines, line);) {
    auto w = words_of(line);
    if (w.size() < 2 || w[1].rfind("ipv4:127.0.0.1:", 0) != 0)
      continue;
    ++rows;
    CHECK(w.size() == 8);
    CHECK(w[2] == "-");
    CHECK(from_end(w, 3) <= 1); // in flight
    CHECK(from_end(w, 2) == 0); // streams
    CHECK(from_end(w, 1) > 0); // calls
    total_calls += from_end(w, 1);
    bool is_session = false;
    for (auto& a : sessions)
      is_session = is_session
        || (std::to_string(a["id"].get<uint64_t>()) == w[0]
            && a["kind"] == "session");
    CHECK(is_session);
  }
  CHECK(rows == 4);
  CHECK(total_calls >= before);

  auto stats = console(gw, {"-c", "stats"});
  INFO(stats.out << stats.err);
  CHECK(stats.status.code == 0);
  CHECK(words_of(line_with(stats.out, "pid "))
        == std::vector<std::string>{"pid", std::to_string(gw.pid())});
  auto actors = words_of(line_with(stats.out, "actors "));
  REQUIRE(actors.size() == 2);
  CHECK(std::stoull(actors[1]) > 10);
  auto stat_sessions = words_of(line_with(stats.out, "sessions "));
  REQUIRE(stat_sessions.size() == 2);
  CHECK(stat_sessions[1] == "4");
  CHECK(std::regex_search(line_with(stats.out, "in flight "),
                          std::regex(R"(^in flight\s+[0-4] requests?$)")));
  CHECK(words_of(line_with(stats.out, "listen "))
        == std::vector<std::string>{
          "listen", "127.0.0.1:" + std::to_string(gw.grpc_port())});
}

TEST_CASE("console -c warnings names a circuit the kills opened",
          "[console][e2e]") {
  // `local`'s supervisor gives up on its second restart within a minute,
  // and its circuit probes again only after a minute.
  gateway_process gw{R"(
audit:
  path: {dir}/audit.log
backends:
  mem: {type: memory}
  local:
    type: sqlite
    path: {dir}/prism.db
    connections: 2
    supervision:
      max_restarts: 1
      period_ms: 60000
      backoff: {min_ms: 10, max_ms: 100, jitter: 0.0}
    circuit: {probe_after_ms: 60000, probe_max_ms: 60000}
namespaces:
  cache: {backend: mem}
  default: {backend: local}
)"};
  gw.start();
  auto quiet = console(gw, {"-c", "warnings"});
  CHECK(quiet.status.code == 0);
  CHECK(quiet.out == "no warnings\n");

  auto first = console(gw, {"-c", "kill connection:local#0"});
  INFO(first.out << first.err);
  REQUIRE(first.status.code == 0);
  CHECK(line_with(first.out, "restarted as connection:local#0 (") != "");
  // The second kill gets no replacement: the supervisor gave up.
  auto supervisor = find_actor(actor_list(gw), "supervisor", "pool:local");
  REQUIRE(!supervisor.is_null());
  auto second = console(gw, {"-c", "kill connection:local#0 --timeout 500ms"});
  INFO(second.out << second.err);
  CHECK(second.status.code == 1);
  CHECK(second.err.find("no actor took the place of connection:local#0 within "
                        "500 ms (its supervisor, actor "
                        + std::to_string(supervisor["id"].get<uint64_t>())
                        + ", started none")
        != std::string::npos);

  auto pool_actor = find_actor(actor_list(gw), "pool", "local");
  REQUIRE(!pool_actor.is_null());
  auto pool_label
    = "pool:local (" + std::to_string(pool_actor["id"].get<uint64_t>()) + ")";
  REQUIRE(eventually([&] { return pool_state(gw, "local") == "failed"; }, 10s));
  auto warnings = console(gw, {"-c", "warnings"});
  INFO(warnings.out << warnings.err);
  CHECK(warnings.status.code == 0);
  auto row = words_of(line_with(warnings.out, "circuit_open"));
  REQUIRE(row.size() >= 5);
  CHECK(row[0] == "error");
  CHECK(line_with(warnings.out, "circuit_open").find(pool_label)
        != std::string::npos);
  CHECK(line_with(warnings.out,
                  "    backend \"local\" (sqlite): its circuit "
                  "is open")
        != "");
  CHECK(line_with(warnings.out, "mem") == "");

  auto pools = console(gw, {"-c", "pools"});
  INFO(pools.out);
  auto local = row_of(pools.out, "local");
  REQUIRE(local.size() >= 13);
  CHECK(local[5] == "2"); // DOWN
  CHECK(line_with(pools.out, "local ").find("  open for ")
        != std::string::npos);
  CHECK(row_of(pools.out, "mem").back() == "closed");
  auto pool = console(gw, {"-c", "pool local"});
  CHECK(line_with(pool.out, "  circuit      open for ") != "");
  CHECK(line_with(pool.out, "  connections  2 (0 active, 0 idle, 2 down)")
        != "");
}

TEST_CASE("console -c config hides the tokens, log level needs an admin's "
          "token",
          "[console][e2e]") {
  // root's token is "admin-token"; the config lists its SHA-256.
  const std::string root_hash
    = "10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a";
  gateway_process gw{R"(
auth:
  mode: token
  tokens:
    root: )" + root_hash
                     + R"(
  admins: [root]
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem}
)"};
  gw.start();
  auto config = console(gw, {"-c", "config"});
  INFO(config.out << config.err);
  CHECK(config.status.code == 0);
  CHECK(config.out.find(root_hash) == std::string::npos);
  CHECK(config.out.find("admin-token") == std::string::npos);
  CHECK(words_of(line_with(config.out, "auth.tokens.root"))
        == std::vector<std::string>{"auth.tokens.root", "<redacted>"});
  CHECK(words_of(line_with(config.out, "auth.mode "))
        == std::vector<std::string>{"auth.mode", "token"});
  CHECK(words_of(line_with(config.out, "namespaces.cache.backend "))
        == std::vector<std::string>{"namespaces.cache.backend", "mem"});

  CHECK(console(gw, {"-c", "log"}).out == "log level: info\n");
  auto denied = console(gw, {"-c", "log level debug"});
  CHECK(denied.status.code == 1);
  CHECK(denied.out.empty());
  CHECK(denied.err.find("(POST /debug/log/level/debug answered 403); pass "
                        "--token with an admin's token")
        != std::string::npos);
  CHECK(console(gw, {"-c", "log"}).out == "log level: info\n");
  auto bad = console(gw, {"--token", "admin-token", "-c", "log level chatty"});
  CHECK(bad.status.code == 2);
  CHECK(bad.err.find("unknown level \"chatty\"") != std::string::npos);
  auto set = console(gw, {"--token", "admin-token", "-c", "log level debug"});
  INFO(set.err);
  CHECK(set.status.code == 0);
  CHECK(set.out == "log level: debug\n");
  auto now = console(gw, {"-c", "log"});
  CHECK(now.status.code == 0);
  CHECK(now.out == "log level: debug\n");
}

TEST_CASE("console -c trace stops by its limits, follow shows a call's hops",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  auto mem_connection = find_actor(actor_list(gw), "connection", "mem#0");
  REQUIRE(!mem_connection.is_null());

  // Nothing calls the memory backend: the tap ends by its time.
  auto started = std::chrono::steady_clock::now();
  auto idle = run_prism(
    console_args(gw, {"-c", "trace connection:mem#0 --for 1s"}), 15s);
  auto took = std::chrono::steady_clock::now() - started;
  INFO(idle.out << idle.err);
  CHECK_FALSE(idle.timed_out);
  CHECK(idle.status.code == 0);
  CHECK(idle.out.rfind("tracing connection:mem#0: 1 actors ["
                         + std::to_string(mem_connection["id"].get<uint64_t>())
                         + "], at most 100 events, for up to 1 s",
                       0)
        == 0);
  CHECK(std::regex_search(
    idle.out,
    std::regex(R"(\n\d+ events?; stopped by --for: 1 s passed; 0 )"
               R"(dropped\n$)")));
  CHECK(took >= 1s);

  load calls(gw);
  REQUIRE(eventually([&] { return calls.calls() >= 50; }, 20s));
  auto pool_actor = find_actor(actor_list(gw), "pool", "local");
  REQUIRE(!pool_actor.is_null());
  auto pool_label
    = "pool:local (" + std::to_string(pool_actor["id"].get<uint64_t>()) + ")";
  auto busy = run_prism(
    console_args(gw, {"-c", "trace pool:local --max 5 --for 60s"}), 15s);
  INFO(busy.out << busy.err);
  CHECK_FALSE(busy.timed_out);
  CHECK(busy.status.code == 0);
  size_t events = 0;
  std::istringstream lines(busy.out);
  for (std::string line; std::getline(lines, line);)
    if (line.find(pool_label) != std::string::npos)
      ++events;
  CHECK(events == 5);
  CHECK(std::regex_search(
    busy.out,
    std::regex(R"(\n5 events; stopped by --max: 5 events; \d+ dropped)")));

  // A follow armed before the call; `prism kv` then sends the request id.
  const std::string id = "console-e2e-follow-1";
  prism_child follow(console_args(gw, {"-c", "follow " + id + " --for 20s"}));
  REQUIRE(eventually(
    [&] {
      return http_get(gw.admin_port(), "/debug/follow/" + id).status == 202;
    },
    10s));
  auto kv = run_prism({"kv", "--target",
                       "127.0.0.1:" + std::to_string(gw.grpc_port()),
                       "--request-id", id, "set", "default", "followed", "v"});
  INFO(kv.out << kv.err);
  REQUIRE(kv.status.code == 0);
  exit_status ended;
  REQUIRE(follow.wait(20s, ended));
  auto out = follow.out();
  INFO(out << follow.err());
  CHECK(ended.code == 0);
  CHECK(in_order(out,
                 {"waiting for a call with request id " + id,
                  "request " + id + ": default Set -> OK in ", "hops: session ",
                  " | router ", " | pool wait:local ", " | backend:local ",
                  " | reply ", "ACTOR", "WHAT", "router:router (", "router",
                  pool_label, "pool wait:local", "connection:local#",
                  "backend:local", "answered OK\n"}));
}

namespace {

/// One event of a recorded run's trace.jsonl.
struct trace_line {
  int64_t t_ms = 0;
  std::string actor;
  std::string event;
  std::string message;
};

std::vector<trace_line> read_trace(const std::string& path) {
  std::vector<trace_line> steps;
  std::istringstream lines(read_file(path));
  bool numbered = true;
  for (std::string line; std::getline(lines, line);) {
    auto e = nlohmann::json::parse(line);
    numbered = numbered && e["step"].get<size_t>() == steps.size();
    steps.push_back({e["t_ms"].get<int64_t>(), e["actor"].get<std::string>(),
                     e["event"].get<std::string>(),
                     e["message"].get<std::string>()});
  }
  // The console's step N is line N of the trace.
  REQUIRE(numbered);
  REQUIRE(!steps.empty());
  return steps;
}

/// What the console prints when it stands on `step`, without the time.
std::string position_of(const std::vector<trace_line>& steps, size_t step) {
  return "step " + std::to_string(step) + " of " + std::to_string(steps.size())
    + " at ";
}
std::string trace_text_of(const std::vector<trace_line>& steps, size_t step) {
  const auto& s = steps[step];
  return ": " + s.actor + " " + s.event + ": " + s.message + "\n";
}

} // namespace

TEST_CASE("console --trace walks a recorded run with commands piped in",
          "[console][e2e]") {
  temp_dir dir;
  auto run_dir = dir.path() + "/run";
  auto simulated = run_prism(
    {"simulate",
     std::string(PRISM_SOURCE_DIR) + "/simulations/connection-crash.yaml",
     "--seed", "1", "--out", run_dir},
    60s);
  INFO(simulated.out << simulated.err);
  REQUIRE(simulated.status.code == 0);
  auto steps = read_trace(run_dir + "/trace.jsonl");

  // Client 5's call 140, as the trace has it: the router hands it to the
  // pool, which hands it to a connection.
  size_t routed = 0;
  for (size_t i = 0; i < steps.size() && routed == 0; ++i)
    if (steps[i].actor == "router" && steps[i].event == "run"
        && steps[i].message == "request c5-140")
      routed = i;
  REQUIRE(routed > 0);
  REQUIRE(steps[routed + 1].actor == "pool:disk");
  auto connection = steps[routed + 2].actor;
  REQUIRE(connection.rfind("connection:disk#", 0) == 0);
  size_t at_1s = 0;
  while (steps[at_1s].t_ms < 1000)
    ++at_1s;

  auto walk = run_prism_with_input(
    {"console", "--trace", run_dir},
    "goto " + std::to_string(routed) + "\nmailbox pool:disk\nstep\nmailbox "
      + connection + "\nback 2\ntree\nfollow c5-140\ngoto 1000ms\n");
  INFO(walk.out << walk.err);
  CHECK(walk.status.code == 0);
  CHECK(walk.err.empty());
  CHECK(in_order(walk.out,
                 {position_of(steps, routed),
                  trace_text_of(steps, routed),
                  "pool:disk (",
                  "): 1 message waiting\n",
                  "#  FROM    MESSAGE\n",
                  "1  router  request c5-140\n",
                  position_of(steps, routed + 1),
                  trace_text_of(steps, routed + 1),
                  connection + " (",
                  "): 1 message waiting\n",
                  "1  pool:disk  request c5-140\n",
                  position_of(steps, routed - 1),
                  trace_text_of(steps, routed - 1),
                  "ACTOR",
                  "supervisor:gateway ",
                  "session:client-5 ",
                  "request c5-140: kv Set -> ",
                  "STEP",
                  "ACTOR",
                  "WHAT",
                  position_of(steps, at_1s),
                  trace_text_of(steps, at_1s),
                  "(step " + std::to_string(at_1s)
                    + " is the first at or after 1000 ms)\n"}));
  // The follow numbers the call's events by step: the router's is there.
  bool router_row = false;
  std::istringstream lines(walk.out);
  for (std::string line; std::getline(lines, line);) {
    auto w = words_of(line);
    router_row = router_row
      || (w.size() == 6 && w[0] == std::to_string(routed) && w[3] == "router"
          && w[4] == "request" && w[5] == "c5-140");
  }
  CHECK(router_row);

  // Each -c starts again at the run's first step.
  auto step = run_prism({"console", "--trace", run_dir, "-c", "step 3"});
  auto again = run_prism({"console", "--trace", run_dir, "-c", "step 3"});
  CHECK(step.status.code == 0);
  CHECK(step.out.rfind("step ", 0) == 0);
  CHECK(again.out == step.out);

  auto kill = run_prism({"console", "--trace", run_dir, "-c", "kill 5"});
  CHECK(kill.status.code == 1);
  CHECK(kill.err
        == "kill: not available on a recorded run (it acts on a running "
           "gateway)\n");
  auto unknown
    = run_prism({"console", "--trace", run_dir, "-c", "follow c9-999"});
  CHECK(unknown.status.code == 1);
  CHECK(unknown.err.find("follow: no event of this run names request "
                         "\"c9-999\"")
        != std::string::npos);
  auto missing = run_prism(
    {"console", "--trace", dir.path() + "/no-such-run", "-c", "tree"});
  CHECK(missing.status.code == 1);
  CHECK(missing.err.find(dir.path() + "/no-such-run is not a directory")
        != std::string::npos);
}

// --- the prompt, through a pseudo-terminal -----------------------------------------

namespace {

/// `prism console` on the slave side of a pseudo-terminal, HOME set to
/// `home`; what it writes is read from the master side.
class terminal_session {
public:
  terminal_session(uint16_t admin_port, const std::string& home) {
    struct winsize size {};
    size.ws_row = 40;
    size.ws_col = 120;
    pid_ = forkpty(&master_, nullptr, nullptr, &size);
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      setenv("HOME", home.c_str(), 1);
      setenv("TERM", "xterm", 1);
      unsetenv("INPUTRC");
      auto admin = "127.0.0.1:" + std::to_string(admin_port);
      execl(prism_binary().c_str(), "prism", "console", "--admin",
            admin.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~terminal_session() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0)
      close(master_);
  }
  terminal_session(const terminal_session&) = delete;
  terminal_session& operator=(const terminal_session&) = delete;

  void type(const std::string& keys) {
    REQUIRE(write(master_, keys.data(), keys.size())
            == static_cast<ssize_t>(keys.size()));
  }

  /// Reads until what came since `mark()` contains `text`, or the
  /// deadline passes; returns whether it came.
  bool wait_for(const std::string& text,
                std::chrono::milliseconds timeout = 15s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (seen_.find(text, mark_) != std::string::npos)
        return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      struct pollfd p {
        master_, POLLIN, 0
      };
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[4096];
      auto n = read(master_, buf, sizeof buf);
      if (n <= 0)
        return seen_.find(text, mark_) != std::string::npos;
      seen_.append(buf, static_cast<size_t>(n));
    }
  }
  /// wait_for() that, when the text does not come, says what did.
  bool expect(const std::string& text) {
    if (wait_for(text))
      return true;
    FAIL_CHECK("waited for \"" << text << "\"; the terminal showed:\n"
                               << seen_);
    return false;
  }
  /// Later waits look only at what comes after this.
  void mark() { mark_ = seen_.size(); }

  /// Waits for the process to end; its exit code, or -1.
  int wait_exit(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      // Drain the terminal so the child never blocks writing to it.
      wait_for("\x01never\x01", 50ms);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }

  const std::string& seen() const { return seen_; }

private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string seen_;
  size_t mark_ = 0;
};

} // namespace

TEST_CASE("the prompt completes, remembers across runs and survives Ctrl-C",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  temp_dir home;
  auto prompt = "prism 127.0.0.1:" + std::to_string(gw.admin_port()) + "> ";
  {
    terminal_session term(gw.admin_port(), home.path());
    REQUIRE(term.expect(prompt));
    // A command name, then an actor label, completed by TAB.
    term.mark();
    term.type("inf\t");
    REQUIRE(term.expect("info "));
    term.mark();
    term.type("pool:lo\t");
    REQUIRE(term.expect("pool:local "));
    term.mark();
    term.type("\r");
    REQUIRE(term.expect("mailbox"));
    REQUIRE(term.expect(prompt));
    // Ctrl-C at the prompt drops the line typed so far.
    term.mark();
    term.type("tree --dep");
    REQUIRE(term.expect("tree --dep"));
    term.mark();
    term.type("\x03");
    REQUIRE(term.expect("^C"));
    REQUIRE(term.expect(prompt));
    term.mark();
    term.type("quit\r");
    CHECK(term.wait_exit() == 0);
  }
  auto history = read_file(home.path() + "/.prism_console_history");
  CHECK(history.find("info pool:local") != std::string::npos);
  {
    // A new run in the same home has the command under the up arrow.
    terminal_session term(gw.admin_port(), home.path());
    REQUIRE(term.expect(prompt));
    term.mark();
    term.type("\x1b[A");
    REQUIRE(term.expect("quit")); // the last line typed: quit
    term.type("\x1b[A");
    REQUIRE(term.expect("info pool:local"));
    term.mark();
    term.type("\r");
    REQUIRE(term.expect("pool:local ("));
    REQUIRE(term.expect(prompt));
    // watch redraws until Ctrl-C, which comes back to the prompt.
    term.mark();
    term.type("watch tree --interval 200ms\r");
    REQUIRE(term.expect("every 200 ms: tree"));
    term.mark();
    REQUIRE(term.expect("every 200 ms: tree"));
    term.mark();
    term.type("\x03");
    REQUIRE(term.expect(prompt));
    term.mark();
    term.type("\x04"); // Ctrl-D on an empty line leaves
    CHECK(term.wait_exit() == 0);
  }
}
