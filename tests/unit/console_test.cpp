// The console's commands against a scripted source that answers the admin
// endpoints in the shapes docs/ADMIN.md and the console's contract give:
// parsing, rendering, every command, and the errors of bad input.

#include <deque>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "console/command_support.hpp"
#include "console/commands.hpp"
#include "console/format.hpp"

using namespace prism::console;
using nlohmann::json;

namespace {

/// Answers each "METHOD path" from a script: the answers in turn, the last
/// one again once they are used up; 404 for a path it has none for.
class scripted_source : public source {
public:
  void on(const std::string& method, const std::string& path, int status,
          json body) {
    reply r;
    r.status = status;
    r.body = std::move(body);
    script_[method + " " + path].push_back(r);
  }
  void fail_everything(std::string error) { error_ = std::move(error); }

  reply get(const std::string& path) override { return answer("GET", path); }
  reply post(const std::string& path) override { return answer("POST", path); }
  std::string describe() const override { return "scripted"; }
  bool recorded() const override { return recorded_; }

  bool recorded_ = false;
  std::vector<std::string> asked;

private:
  reply answer(const std::string& method, const std::string& path) {
    asked.push_back(method + " " + path);
    reply r;
    if (!error_.empty()) {
      r.error = error_;
      return r;
    }
    auto it = script_.find(method + " " + path);
    if (it == script_.end()) {
      r.status = 404;
      r.body = {{"error", "not_found"}, {"message", "no route " + path}};
      return r;
    }
    r = it->second.front();
    if (it->second.size() > 1)
      it->second.pop_front();
    return r;
  }

  std::map<std::string, std::deque<reply>> script_;
  std::string error_;
};

json actor(uint64_t id, const std::string& kind, const std::string& name,
           uint64_t parent, json extra = json::object()) {
  json a = {{"id", id},
            {"kind", kind},
            {"name", name},
            {"parent", parent},
            {"state", "running"},
            {"started_at_ms", 1764279940000},
            {"uptime_ms", 60000},
            {"mailbox_depth", 0},
            {"mailbox_high_water", 0},
            {"mailbox_limit", 0},
            {"admitted", 0},
            {"rejected", 0},
            {"handled", 0},
            {"restarts", 0},
            {"busy_us", 0},
            {"handler_us", {{"p50", 0}, {"p99", 0}, {"max", 0}}},
            {"last_failure", nullptr}};
  for (auto it = extra.begin(); it != extra.end(); ++it)
    a[it.key()] = it.value();
  return a;
}

json actor_list(std::vector<json> actors, uint64_t at_ms = 1764280000000) {
  return {
    {"generated_at_ms", at_ms}, {"count", actors.size()}, {"actors", actors}};
}

/// A gateway's actors: a pool with two connections under a supervisor.
json some_actors(uint64_t at_ms = 1764280000000, uint64_t handled = 1000,
                 uint64_t busy_us = 10000) {
  return actor_list({actor(4, "supervisor", "gateway", 0),
                     actor(12, "pool", "mem", 4,
                           {{"mailbox_depth", 7},
                            {"mailbox_high_water", 17},
                            {"mailbox_limit", 4096},
                            {"handled", handled},
                            {"busy_us", busy_us},
                            {"restarts", 1}}),
                     actor(13, "connection", "mem#0", 12,
                           {{"mailbox_depth", 2},
                            {"mailbox_high_water", 64},
                            {"mailbox_limit", 64},
                            {"rejected", 3},
                            {"handled", 500}}),
                     actor(14, "connection", "mem#1", 12, {{"handled", 400}})},
                    at_ms);
}

json some_tree() {
  auto pool = actor(12, "pool", "mem", 4,
                    {{"mailbox_depth", 7},
                     {"mailbox_high_water", 17},
                     {"mailbox_limit", 4096}});
  pool["children"] = {actor(13, "connection", "mem#0", 12),
                      actor(14, "connection", "mem#1", 12)};
  for (auto& c : pool["children"])
    c["children"] = json::array();
  auto root = actor(4, "supervisor", "gateway", 0);
  root["children"] = {pool};
  return {{"generated_at_ms", 1764280000000}, {"count", 4}, {"actors", {root}}};
}

/// Runs one line against a source, without waiting: sleep only moves a
/// virtual clock.
struct run {
  run(scripted_source& src, const std::string& line, bool json_mode = false,
      size_t width = 0)
    : ctx(src, out, err) {
    ctx.json = json_mode;
    ctx.width = width;
    ctx.sleep = [this](std::chrono::milliseconds d) {
      clock += d;
    };
    ctx.now = [this] {
      return clock;
    };
    result = run_line(ctx, line);
  }
  std::ostringstream out;
  std::ostringstream err;
  context ctx;
  std::chrono::steady_clock::time_point clock{};
  outcome result = outcome::ok;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

// --- parsing and rendering ------------------------------------------------------

TEST_CASE("durations and sizes read at a glance", "[console]") {
  CHECK(human_us(850) == "850 µs");
  CHECK(human_us(4120) == "4.1 ms");
  CHECK(human_us(412000) == "412 ms");
  CHECK(human_ms(9300) == "9.3 s");
  CHECK(human_ms(12300) == "12 s");
  CHECK(human_ms(312000) == "5m 12s");
  CHECK(human_ms(3 * 3600000.0 + 5 * 60000) == "3h 05m");
  CHECK(human_ms(2 * 86400000.0 + 4 * 3600000) == "2d 04h");
  CHECK(human_bytes(512) == "512 B");
  CHECK(human_bytes(3.5 * 1024 * 1024) == "3.5 MiB");
  CHECK(human_number(12.34) == "12.3");
  CHECK(human_number(250000) == "250k");
}

TEST_CASE("durations a person types", "[console]") {
  CHECK(parse_duration_ms("5s") == 5000u);
  CHECK(parse_duration_ms("500ms") == 500u);
  CHECK(parse_duration_ms("1.5s") == 1500u);
  CHECK(parse_duration_ms("2m") == 120000u);
  CHECK(parse_duration_ms("3") == 3000u);
  CHECK_FALSE(parse_duration_ms("5x"));
  CHECK_FALSE(parse_duration_ms("s"));
  CHECK_FALSE(parse_duration_ms("0s"));
  CHECK_FALSE(parse_duration_ms("1.2.3s"));
  CHECK(parse_whole("42") == 42u);
  CHECK_FALSE(parse_whole("-1"));
  CHECK_FALSE(parse_whole("99999999999999999999999"));
}

TEST_CASE("a table fits the terminal by cutting its flexible column",
          "[console]") {
  table t(
    {{"NAME", table::align::left, true}, {"N", table::align::right, false}});
  t.add({"connection:a-very-long-backend-name#12", "7"});
  t.add({"pool:mem", "1234"});
  auto wide = t.lines(0);
  REQUIRE(wide.size() == 3);
  CHECK(wide[1] == "connection:a-very-long-backend-name#12     7");
  CHECK(wide[2] == "pool:mem                                1234");
  auto narrow = t.lines(20);
  for (const auto& line : narrow)
    CHECK(display_width(line) <= 20);
  CHECK(narrow[1] == "connection:a-…     7");
  CHECK(narrow[2] == "pool:mem        1234");
  CHECK(ellipsize("abcdef", 4) == "abc…");
  CHECK(ellipsize("µµµµ", 3) == "µµ…");
}

TEST_CASE("a line splits into words, quotes keeping spaces", "[console]") {
  std::vector<std::string> words;
  std::string error;
  REQUIRE(split_words("  trace 'connection:mem#0' --max 5 ", words, error));
  CHECK(words
        == std::vector<std::string>{"trace", "connection:mem#0", "--max", "5"});
  REQUIRE(split_words("follow \"a b\"", words, error));
  CHECK(words == std::vector<std::string>{"follow", "a b"});
  CHECK_FALSE(split_words("follow \"a b", words, error));
  CHECK(error == "a double quote is not closed");
}

// --- bad input ----------------------------------------------------------------

TEST_CASE("an unknown command suggests the closest", "[console]") {
  scripted_source src;
  run r(src, "tpo --sort mailbox");
  CHECK(r.result == outcome::usage);
  CHECK(r.err.str()
        == "unknown command \"tpo\"; did you mean `top`? (`help` lists the "
           "commands)\n");
  run far(src, "xyzzy");
  CHECK(far.result == outcome::usage);
  CHECK(far.err.str()
        == "unknown command \"xyzzy\" (`help` lists the commands)\n");
  CHECK(src.asked.empty());
}

TEST_CASE("bad flags and values are named", "[console]") {
  scripted_source src;
  run unknown(src, "top --srot mailbox");
  CHECK(unknown.result == outcome::usage);
  CHECK(has(unknown.err.str(),
            "top: unknown flag --srot; it takes --sort, --window, -n"));
  CHECK(has(unknown.err.str(), "usage: top [--sort KEY]"));
  run key(src, "top --sort memory");
  CHECK(key.result == outcome::usage);
  CHECK(has(key.err.str(),
            "--sort takes mailbox, hwm, rate, busy, restarts or "
            "rejected, not \"memory\""));
  run window(src, "top --window soon");
  CHECK(has(window.err.str(), "--window takes a duration"));
  CHECK(has(window.err.str(), "not \"soon\""));
  run rows(src, "top -n 0");
  CHECK(
    has(rows.err.str(), "-n takes a whole number from 1 to 10000, not \"0\""));
  run missing(src, "trace pool:mem --max");
  CHECK(has(missing.err.str(), "trace: --max needs a value"));
  run extra(src, "pools now");
  CHECK(has(extra.err.str(), "pools: takes no arguments, got \"now\""));
  run no_actor(src, "info");
  CHECK(no_actor.result == outcome::usage);
  CHECK(has(no_actor.err.str(), "info: needs an actor"));
  run level(src, "log level loud");
  CHECK(level.result == outcome::usage);
  CHECK(has(level.err.str(),
            "unknown level \"loud\"; use one of trace, debug, "
            "info, warn, error, critical, off"));
  run threshold(src, "slowlog threshold fast");
  CHECK(has(threshold.err.str(), "not \"fast\""));
  // No bad input reached the gateway.
  CHECK(src.asked.empty());
}

TEST_CASE("no answer and error answers become one sentence", "[console]") {
  scripted_source src;
  src.fail_everything("no admin listener at 127.0.0.1:8981: connection "
                      "refused (start `prism serve` or pass --admin "
                      "HOST:PORT)");
  run refused(src, "tree");
  CHECK(refused.result == outcome::failed);
  CHECK(refused.err.str()
        == "tree: no admin listener at 127.0.0.1:8981: connection refused "
           "(start `prism serve` or pass --admin HOST:PORT)\n");

  scripted_source gw;
  gw.on("GET", "/debug/actors", 200, some_actors());
  gw.on("POST", "/debug/actors/13/kill", 403,
        {{"error", "forbidden"}, {"message", "an admin's token is needed"}});
  run forbidden(gw, "kill 13");
  CHECK(forbidden.result == outcome::failed);
  CHECK(forbidden.err.str()
        == "kill: an admin's token is needed (POST /debug/actors/13/kill "
           "answered 403); pass --token with an admin's token\n");
  run absent(gw, "pools");
  CHECK(absent.result == outcome::failed);
  CHECK(has(absent.err.str(),
            "pools: no route /debug/pools (GET /debug/pools "
            "answered 404)"));
}

// --- help -----------------------------------------------------------------------

TEST_CASE("help lists every command and explains each", "[console]") {
  scripted_source src;
  run all(src, "help");
  CHECK(all.result == outcome::ok);
  for (const auto& cmd : commands()) {
    if (cmd.recorded_only) {
      CHECK_FALSE(has(all.out.str(), cmd.usage));
      continue;
    }
    CHECK(has(all.out.str(), cmd.usage));
    run one(src, "help " + cmd.name);
    CHECK(one.result == outcome::ok);
    CHECK(has(one.out.str(), "usage: " + cmd.usage));
    CHECK(has(one.out.str(), cmd.details));
  }
  run unknown(src, "help topp");
  CHECK(unknown.result == outcome::usage);
  CHECK(has(unknown.err.str(), "did you mean `top`?"));
}

// --- actors -----------------------------------------------------------------------

TEST_CASE("tree draws the supervision tree", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/tree", 200, some_tree());
  run whole_tree(src, "tree");
  CHECK(whole_tree.result == outcome::ok);
  CHECK(whole_tree.out.str()
        == "ACTOR                   ID  STATE      MAILBOX  RESTARTS  UPTIME\n"
           "supervisor:gateway       4  running      0/0/-         0  1m 00s\n"
           "└─ pool:mem             12  running  7/17/4096         0  1m 00s\n"
           "   ├─ connection:mem#0  13  running      0/0/-         0  1m 00s\n"
           "   └─ connection:mem#1  14  running      0/0/-         0  1m 00s\n"
           "4 actors; MAILBOX is depth/high-water/limit (- no limit)\n");
  run shallow(src, "tree --depth 1");
  CHECK(has(shallow.out.str(), "└─ pool:mem (+2)"));
  CHECK_FALSE(has(shallow.out.str(), "connection:mem#0"));
  run sub(src, "tree pool:mem");
  CHECK(has(sub.out.str(), "\npool:mem "));
  CHECK_FALSE(has(sub.out.str(), "supervisor:gateway"));
  run path(src, "tree supervisor:gateway/pool:mem/connection:mem#1");
  CHECK(has(path.out.str(), "\nconnection:mem#1 "));
  run by_id(src, "tree 13");
  CHECK(has(by_id.out.str(), "\nconnection:mem#0 "));
  run missing(src, "tree pool:mme");
  CHECK(missing.result == outcome::failed);
  CHECK(missing.err.str()
        == "tree: no actor at \"pool:mme\" in the tree; did you mean "
           "pool:mem?\n");
}

TEST_CASE("top sorts now, or by change over a window", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/actors", 200, some_actors());
  run by_mailbox(src, "top -n 2");
  CHECK(by_mailbox.result == outcome::ok);
  auto lines = by_mailbox.out.str();
  CHECK(has(lines, "top 2 of 4 actors by mailbox"));
  CHECK(lines.find("pool:mem") < lines.find("connection:mem#0"));
  CHECK_FALSE(has(lines, "supervisor:gateway"));
  CHECK(src.asked.size() == 1);

  // Two reads a second apart: the pool handled 400 more, busy 250 ms more.
  scripted_source window;
  window.on("GET", "/debug/actors", 200, some_actors(1764280000000, 1000, 0));
  window.on("GET", "/debug/actors", 200,
            some_actors(1764280001000, 1400, 250000));
  run by_rate(window, "top --sort busy --window 1s");
  CHECK(by_rate.result == outcome::ok);
  CHECK(window.asked.size() == 2);
  auto text = by_rate.out.str();
  INFO(text);
  CHECK(has(text, "by busy over 1 s"));
  // The pool's row: 400 messages/s, 25% busy.
  auto row = text.substr(text.find("pool:mem"));
  row = row.substr(0, row.find('\n'));
  CHECK(has(row, " 400 "));
  CHECK(has(row, " 25 "));
}

TEST_CASE("info groups one actor by concern", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/actors", 200, some_actors());
  auto first = actor(12, "pool", "mem", 4,
                     {{"handled", 1000},
                      {"busy_us", 0},
                      {"restarts", 1},
                      {"mailbox_limit", 4096},
                      {"rejected", 2},
                      {"handler_us", {{"p50", 8}, {"p99", 32}, {"max", 611}}},
                      {"last_failure",
                       {{"reason", "connection mem#1 ended: kill"},
                        {"at_ms", 1764279990000},
                        {"ago_ms", 10000}}}});
  first["children"] = {13, 14};
  auto second = first;
  second["handled"] = 1500;
  second["busy_us"] = 100000;
  src.on("GET", "/debug/actors/12", 200,
         {{"generated_at_ms", 1764280000000}, {"actor", first}});
  src.on("GET", "/debug/actors/12", 200,
         {{"generated_at_ms", 1764280001000}, {"actor", second}});
  run r(src, "info pool:mem");
  CHECK(r.result == outcome::ok);
  auto text = r.out.str();
  INFO(text);
  CHECK(has(text, "pool:mem (12)\n"));
  CHECK(has(text, "parent    supervisor:gateway (4)"));
  CHECK(has(text, "children  connection:mem#0 (13), connection:mem#1 (14)"));
  CHECK(has(text, "mailbox\n"));
  CHECK(has(text, "limit       4096"));
  CHECK(has(text, "rejected    2"));
  CHECK(has(text, "messages/s  500 over the last 1 s"));
  CHECK(has(text, "busy        10% over the last 1 s"));
  CHECK(has(text, "handler     p50 8 µs, p99 32 µs, max 611 µs"));
  CHECK(has(text, "last failure  connection mem#1 ended: kill, 10 s ago"));
  // A bare name only one actor has works too; one two share does not.
  run bare(src, "info mem");
  CHECK(bare.result == outcome::ok);
  run unknown(src, "info connection:mem#7");
  CHECK(unknown.result == outcome::failed);
  CHECK(has(unknown.err.str(),
            "no actor is called \"connection:mem#7\"; did "
            "you mean connection:mem#0?"));
}

TEST_CASE("a name two actors share is refused with both", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/actors", 200,
         actor_list(
           {actor(5, "pool", "disk", 0), actor(6, "supervisor", "disk", 0)}));
  run r(src, "info disk");
  CHECK(r.result == outcome::failed);
  CHECK(r.err.str()
        == "info: 2 actors are called \"disk\": pool:disk (5), "
           "supervisor:disk (6); give a kind:name label or an id\n");
}

TEST_CASE("kill waits for the replacement and times the restart", "[console]") {
  scripted_source src;
  auto victim = actor(13, "connection", "mem#0", 12,
                      {{"last_failure",
                        {{"reason", "killed by POST /debug/actors/13/kill"},
                         {"at_ms", 1764280000000},
                         {"ago_ms", 0}}}});
  victim["children"] = json::array();
  src.on("GET", "/debug/actors", 200, some_actors());
  src.on("POST", "/debug/actors/13/kill", 202,
         {{"generated_at_ms", 1764280000000}, {"actor", victim}});
  // The first look still sees the old one; the second its replacement.
  src.on("GET", "/debug/actors", 200, some_actors());
  auto after = some_actors();
  after["actors"][2]
    = actor(57, "connection", "mem#0", 12,
            {{"started_at_ms", 1764280000012}, {"restarts", 1}});
  after["actors"][1]["restarts"] = 2;
  src.on("GET", "/debug/actors", 200, after);
  run r(src, "kill connection:mem#0");
  CHECK(r.result == outcome::ok);
  CHECK(r.out.str()
        == "killed connection:mem#0 (13)\n"
           "restarted as connection:mem#0 (57) after 12 ms (kill to its "
           "start, by the gateway's clock)\n"
           "restarts: 1 (connection:mem#0), 2 (pool:mem (12))\n");

  scripted_source lonely;
  auto session = actor(30, "session", "ipv4:127.0.0.1:5000", 0);
  lonely.on("GET", "/debug/actors", 200, actor_list({session}));
  lonely.on("POST", "/debug/actors/30/kill", 202, {{"actor", session}});
  lonely.on("GET", "/debug/actors", 200, actor_list({}));
  run gone(lonely, "kill 30 --timeout 1s");
  CHECK(gone.result == outcome::failed);
  CHECK(has(gone.err.str(),
            "no actor took the place of "
            "session:ipv4:127.0.0.1:5000 within 1 s"));
}

// --- the gateway's state ---------------------------------------------------------

json some_pools() {
  return {{"generated_at_ms", 1764280000000},
          {"pools",
           {{{"backend", "disk"},
             {"driver", "sqlite"},
             {"actor", 8},
             {"size", 4},
             {"active", 1},
             {"idle", 3},
             {"down", 0},
             {"waiting", 2},
             {"max_pending", 1024},
             {"max_wait_ms", 35},
             {"served", 5120},
             {"errors", 1},
             {"reconnects", 0},
             {"circuit", "closed"},
             {"circuit_since_ms", nullptr}},
            {{"backend", "pg"},
             {"driver", "postgres"},
             {"actor", 9},
             {"size", 2},
             {"active", 0},
             {"idle", 0},
             {"down", 2},
             {"waiting", 0},
             {"max_pending", 1024},
             {"max_wait_ms", 0},
             {"served", 10},
             {"errors", 7},
             {"reconnects", 3},
             {"circuit", "open"},
             {"circuit_since_ms", 4200}}}}};
}

TEST_CASE("pools and pool show the pools like SHOW POOLS", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/pools", 200, some_pools());
  run all(src, "pools");
  CHECK(all.result == outcome::ok);
  auto text = all.out.str();
  INFO(text);
  CHECK(has(text,
            "BACKEND  DRIVER    SIZE  ACTIVE  IDLE  DOWN  WAITING  MAX "
            "WAIT  SERVED  ERRORS  RECONNECTS  CIRCUIT"));
  CHECK(has(text,
            "disk     sqlite       4       1     3     0   2/1024     "
            "35 ms    5120       1           0  closed"));
  CHECK(has(text, "open for 4.2 s"));
  run one(src, "pool pg");
  CHECK(one.result == outcome::ok);
  CHECK(has(one.out.str(), "pool pg (postgres, actor 9)"));
  CHECK(has(one.out.str(), "connections  2 (0 active, 0 idle, 2 down)"));
  CHECK(has(one.out.str(), "circuit      open for 4.2 s"));
  run unknown(src, "pool dsk");
  CHECK(unknown.result == outcome::failed);
  CHECK(has(unknown.err.str(),
            "no pool for a backend \"dsk\"; did you mean disk?"));
}

json namespaces_at(uint64_t at_ms, uint64_t requests, uint64_t not_found,
                   uint64_t limited, json buckets) {
  return {
    {"generated_at_ms", at_ms},
    {"namespaces",
     {{{"name", "orders"},
       {"backend", "disk"},
       {"api", "keyvalue"},
       {"requests", requests},
       {"by_code", {{"OK", requests - not_found}, {"NOT_FOUND", not_found}}},
       {"rejections", {{"rate_limit", limited}, {"mailbox_full", 0}}},
       {"latency_buckets_us", buckets},
       {"p50_ms", 0.1},
       {"p99_ms", 5}}}}};
}

TEST_CASE("ns measures rates and latency over its window", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/namespaces", 200,
         namespaces_at(1764280000000, 1000, 10, 0,
                       {{100, 500}, {1000, 990}, {10000, 1000}}));
  // 200 calls in 2 s: 100 under 100 µs, 97 more under 1 ms, 3 under 10 ms.
  src.on("GET", "/debug/namespaces", 200,
         namespaces_at(1764280002000, 1200, 15, 4,
                       {{100, 600}, {1000, 1187}, {10000, 1200}}));
  run r(src, "ns --window 2s");
  CHECK(r.result == outcome::ok);
  auto text = r.out.str();
  INFO(text);
  CHECK(has(text, "over the last 2 s"));
  auto row = text.substr(text.find("orders"));
  CHECK(has(row,
            "orders     disk     keyvalue    100  100 µs  10 ms  "
            "NOT_FOUND 5  rate_limit 4"));
  scripted_source one;
  one.on("GET", "/debug/namespaces", 200,
         namespaces_at(1764280000000, 1000, 10, 0, json::array()));
  one.on("GET", "/debug/namespaces", 200,
         namespaces_at(1764280001000, 1000, 10, 0, json::array()));
  run detail(one, "ns orders");
  CHECK(detail.result == outcome::ok);
  CHECK(has(detail.out.str(), "namespace orders (keyvalue on disk)"));
  CHECK(has(detail.out.str(), "requests/s  0"));
  CHECK(has(detail.out.str(), "by code    NOT_FOUND 10 OK 990"));
  CHECK(has(detail.out.str(), "rejected   mailbox_full 0 rate_limit 0"));
  run unknown(one, "ns order");
  CHECK(unknown.result == outcome::failed);
  CHECK(has(unknown.err.str(), "no namespace \"order\"; did you mean orders?"));
}

TEST_CASE("clients lists the sessions", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/clients", 200,
         {{"generated_at_ms", 1764280000000},
          {"clients",
           {{{"actor", 30},
             {"peer", "ipv4:127.0.0.1:50612"},
             {"principal", "alice"},
             {"started_at_ms", 1764279000000},
             {"age_ms", 1000000},
             {"in_flight", 3},
             {"streams", 1},
             {"calls", 42}}}}});
  run r(src, "clients");
  CHECK(r.result == outcome::ok);
  CHECK(
    r.out.str()
    == "ACTOR  PEER                  PRINCIPAL      AGE  IN FLIGHT  STREAMS  "
       "CALLS\n"
       "   30  ipv4:127.0.0.1:50612  alice      16m 40s          3        1  "
       "   42\n");
}

TEST_CASE("warnings print each sentence whole", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/warnings", 200,
         {{"generated_at_ms", 1764280000000},
          {"warnings",
           {{{"kind", "circuit_open"},
             {"severity", "error"},
             {"actor", 9},
             {"subject", "pool:pg"},
             {"message",
              "the circuit of pool pg is open: calls to it fail "
              "at once; check that PostgreSQL is up"},
             {"since_ms", 4200}}}}});
  run r(src, "warnings", false, 40);
  INFO(r.out.str());
  CHECK(r.result == outcome::ok);
  CHECK(has(r.out.str(),
            "error     circuit_open  pool:pg …  4.2 s\n    "
            "the circuit of pool pg is open: calls to it fail at "
            "once; check that PostgreSQL is up\n1 warning\n"));
  scripted_source calm;
  calm.on("GET", "/debug/warnings", 200,
          {{"generated_at_ms", 1}, {"warnings", json::array()}});
  run none(calm, "warnings");
  CHECK(none.out.str() == "no warnings\n");
}

TEST_CASE("config, log and stats", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/config", 200,
         {{"generated_at_ms", 1},
          {"server", {{"listen", "0.0.0.0:50051"}}},
          {"backends", {{"pg", {{"dsn", "<redacted>"}, {"connections", 4}}}}}});
  run config(src, "config");
  CHECK(config.result == outcome::ok);
  CHECK(has(config.out.str(), "backends.pg.connections  4\n"));
  CHECK(has(config.out.str(), "backends.pg.dsn          <redacted>\n"));
  CHECK(has(config.out.str(), "server.listen            0.0.0.0:50051\n"));
  CHECK_FALSE(has(config.out.str(), "generated_at_ms"));
  // Settings under one "config" object are named without it.
  scripted_source wrapped;
  wrapped.on(
    "GET", "/debug/config", 200,
    {{"generated_at_ms", 1},
     {"config", {{"auth", {{"mode", "token"}, {"tokens", "<redacted>"}}}}}});
  run unwrapped(wrapped, "config");
  CHECK(unwrapped.out.str()
        == "SETTING      VALUE\nauth.mode    token\nauth.tokens  <redacted>\n");

  src.on("GET", "/debug/log", 200, {{"generated_at_ms", 1}, {"level", "info"}});
  src.on("POST", "/debug/log/level/debug", 200, {{"level", "debug"}});
  run show(src, "log");
  CHECK(show.out.str() == "log level: info\n");
  run set(src, "log level debug");
  CHECK(set.result == outcome::ok);
  CHECK(set.out.str() == "log level: debug\n");
  CHECK(src.asked.back() == "POST /debug/log/level/debug");

  src.on("GET", "/debug/stats", 200,
         {{"generated_at_ms", 1},
          {"version", "0.1.0"},
          {"uptime_ms", 90000},
          {"pid", 4242},
          {"rss_bytes", 52428800},
          {"threads", 9},
          {"cpu_user_ms", 1500},
          {"cpu_system_ms", 300},
          {"actors", 16},
          {"sessions", 2},
          {"requests_in_flight", 5},
          {"config_path", "config/prism.yaml"},
          {"listen", "0.0.0.0:50051"},
          {"admin", "127.0.0.1:8981"}});
  run stats(src, "stats");
  CHECK(stats.result == outcome::ok);
  CHECK(has(stats.out.str(), "uptime     1m 30s\n"));
  CHECK(has(stats.out.str(), "memory     50 MiB resident\n"));
  CHECK(has(stats.out.str(), "cpu        1.5 s user, 300 ms system\n"));
  CHECK(has(stats.out.str(), "in flight  5 requests\n"));
}

// --- requests ---------------------------------------------------------------------

json slow_entry(uint64_t id, const std::string& request_id, uint64_t total_us) {
  return {{"id", id},
          {"request_id", request_id},
          {"namespace", "orders"},
          {"operation", "Set"},
          {"principal", ""},
          {"peer", "ipv4:127.0.0.1:50612"},
          {"code", "OK"},
          {"total_us", total_us},
          {"at_ms", 1764279998120},
          {"ago_ms", 1880},
          {"hops",
           {{{"name", "session"}, {"us", 12}},
            {{"name", "pool wait:disk"}, {"us", 4120}},
            {{"name", "backend:disk"}, {"us", 21040}}}},
          {"hops_dropped", 0}};
}

TEST_CASE("slowlog shows, resets and sets its threshold", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/slowlog", 200,
         {{"generated_at_ms", 1764280000000},
          {"threshold_ms", 10},
          {"capacity", 128},
          {"recorded", 3},
          {"count", 2},
          {"entries",
           {slow_entry(3, "7f1c", 25172), slow_entry(2, "aa01", 12000)}}});
  run all(src, "slowlog");
  CHECK(all.result == outcome::ok);
  auto text = all.out.str();
  INFO(text);
  CHECK(has(text,
            "slow log: 2 entries kept of 128, threshold 10 ms, 3 "
            "recorded since start\n"));
  CHECK(
    has(text,
        "1.9 s  orders     Set        OK    25 ms  ipv4:127.0.0.1:50612  7f1c\n"
        "    session 12 µs | pool wait:disk 4.1 ms | backend:disk "
        "21 ms\n"));
  run newest(src, "slowlog get 1");
  CHECK(has(newest.out.str(), "; the newest 1\n"));
  CHECK_FALSE(has(newest.out.str(), "aa01"));

  src.on("POST", "/debug/slowlog/reset", 200,
         {{"reset", true}, {"recorded", 3}});
  run reset(src, "slowlog reset");
  CHECK(reset.out.str() == "slow log cleared (3 recorded since start)\n");
  src.on("POST", "/debug/slowlog/threshold/50", 200, {{"threshold_ms", 50}});
  run threshold(src, "slowlog threshold 50");
  CHECK(has(threshold.out.str(), "slow log threshold: 50 ms"));
  run wrong(src, "slowlog clear");
  CHECK(wrong.result == outcome::usage);
  CHECK(has(wrong.err.str(),
            "unknown word \"clear\"; use get N, reset or "
            "threshold MS"));
}

TEST_CASE("follow arms an unseen request id and waits for it", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/follow/req-1", 404,
         {{"error", "not_found"}, {"message", "not armed"}});
  src.on("GET", "/debug/follow/req-1", 202,
         {{"request_id", "req-1"}, {"state", "waiting"}});
  src.on("GET", "/debug/follow/req-1", 200,
         {{"generated_at_ms", 1764280000000},
          {"request_id", "req-1"},
          {"state", "done"},
          {"call", slow_entry(9, "req-1", 2500)},
          {"events",
           {{{"at_ms", 1764280000000},
             {"actor", 30},
             {"label", "session:peer"},
             {"what", "received Set"}},
            {{"at_ms", 1764280000002},
             {"actor", 13},
             {"label", "connection:disk#0"},
             {"what", "ran the statement"}}}}});
  src.on("POST", "/debug/follow/req-1", 202,
         {{"request_id", "req-1"}, {"state", "waiting"}});
  run r(src, "follow req-1");
  CHECK(r.result == outcome::ok);
  auto text = r.out.str();
  INFO(text);
  CHECK(has(text, "waiting for a call with request id req-1"));
  CHECK(has(text, "request req-1: orders Set -> OK in 2.5 ms\n"));
  CHECK(has(text, "\n   AT  ACTOR "));
  CHECK(has(text, "+0 µs  session:peer (30)       received Set\n"));
  CHECK(has(text, "+2 ms  connection:disk#0 (13)  ran the statement\n"));
  CHECK(
    std::count(src.asked.begin(), src.asked.end(), "POST /debug/follow/req-1")
    == 1);

  scripted_source never;
  never.on("GET", "/debug/follow/x", 202, {{"state", "waiting"}});
  run waited(never, "follow x --for 1s");
  CHECK(waited.result == outcome::failed);
  CHECK(has(waited.err.str(), "no call with that request id within 1 s"));
}

TEST_CASE("trace prints events as they come and says what stopped it",
          "[console]") {
  scripted_source src;
  src.on("POST", "/debug/trace/connection:mem%230?max=3&for_ms=10000", 201,
         {{"tap", 5},
          {"target", "connection:mem#0"},
          {"actors", {13}},
          {"max", 3},
          {"for_ms", 10000}});
  auto event = [](uint64_t seq, uint64_t at_ms) {
    return json{{"seq", seq},           {"at_ms", at_ms},
                {"actor", 13},          {"label", "connection:mem#0"},
                {"message", "run_job"}, {"handler_us", 40}};
  };
  src.on("GET", "/debug/trace/5?after=0", 200,
         {{"generated_at_ms", 1},
          {"tap", 5},
          {"state", "running"},
          {"stopped_by", nullptr},
          {"events", {event(1, 1764280000000), event(2, 1764280000005)}},
          {"dropped", 0}});
  src.on("GET", "/debug/trace/5?after=2", 200,
         {{"generated_at_ms", 2},
          {"tap", 5},
          {"state", "stopped"},
          {"stopped_by", "max"},
          {"events", {event(3, 1764280000010)}},
          {"dropped", 4}});
  run r(src, "trace connection:mem#0 --max 3");
  CHECK(r.result == outcome::ok);
  auto text = r.out.str();
  INFO(text);
  CHECK(has(text, "tracing connection:mem#0: 1 actors [13], at most 3 events"));
  CHECK(has(
    text,
    "    +0 µs  connection:mem#0 (13)         run_job                      40 µs\n"));
  CHECK(has(
    text,
    "   +10 ms  connection:mem#0 (13)         run_job                      40 µs\n"));
  CHECK(has(text,
            "3 events; stopped by --max: 3 events; 4 dropped (the tap's "
            "buffer was full"));

  // Ctrl-C stops the tap on the gateway.
  scripted_source cut;
  cut.on("POST", "/debug/trace/pool?max=100&for_ms=10000", 201,
         {{"tap", 6}, {"actors", {12}}});
  cut.on("GET", "/debug/trace/6?after=0", 200,
         {{"tap", 6},
          {"state", "running"},
          {"events", json::array()},
          {"dropped", 0}});
  cut.on("POST", "/debug/trace/6/stop", 200,
         {{"tap", 6},
          {"state", "stopped"},
          {"stopped_by", "cancelled"},
          {"events", json::array()},
          {"dropped", 0}});
  std::ostringstream out;
  std::ostringstream err;
  context ctx(cut, out, err);
  int polls = 0;
  ctx.sleep = [&](std::chrono::milliseconds) {
    ++polls;
  };
  ctx.interrupted = [&] {
    return polls >= 2;
  };
  CHECK(run_line(ctx, "trace pool") == outcome::ok);
  CHECK(cut.asked.back() == "POST /debug/trace/6/stop");
  CHECK(has(out.str(), "0 events; stopped: cancelled; 0 dropped"));
}

// --- --json, watch, completion ----------------------------------------------------

TEST_CASE("the --json flag prints the endpoints' JSON and no table",
          "[console]") {
  scripted_source src;
  src.on("GET", "/debug/tree", 200, some_tree());
  run r(src, "tree", true);
  CHECK(r.result == outcome::ok);
  auto printed = json::parse(r.out.str());
  CHECK(printed == some_tree());
  // Finding an actor by name is not what info shows.
  src.on("GET", "/debug/actors", 200, some_actors());
  src.on("GET", "/debug/actors/12", 200,
         {{"generated_at_ms", 1}, {"actor", actor(12, "pool", "mem", 4)}});
  run info(src, "info pool:mem", true);
  std::istringstream documents(info.out.str());
  json doc;
  int count = 0;
  while (documents >> std::ws, documents.peek() != EOF) {
    documents >> doc;
    CHECK(doc["actor"]["id"] == 12);
    ++count;
  }
  CHECK(count == 2);
}

TEST_CASE("watch redraws in place until Ctrl-C", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/pools", 200, some_pools());
  std::ostringstream out;
  std::ostringstream err;
  context ctx(src, out, err);
  int frames = 0;
  ctx.sleep = [&](std::chrono::milliseconds d) {
    CHECK(d.count() == 2000);
    ++frames;
  };
  ctx.interrupted = [&] {
    return frames == 3;
  };
  CHECK(run_line(ctx, "watch pools --interval 2s") == outcome::ok);
  auto text = out.str();
  size_t clears = 0;
  for (auto at = text.find("\x1b[H\x1b[2J"); at != std::string::npos;
       at = text.find("\x1b[H\x1b[2J", at + 1))
    ++clears;
  CHECK(clears == 3);
  CHECK(has(text, "every 2 s: pools  (Ctrl-C stops)"));
  run bad(src, "watch pools --interval 1ms");
  CHECK(bad.result == outcome::usage);
  run inner(src, "watch top --sort nothing");
  CHECK(inner.result == outcome::usage);
  CHECK(has(inner.err.str(), "--sort takes"));
}

TEST_CASE("tab completes commands, actors and words", "[console]") {
  scripted_source src;
  src.on("GET", "/debug/actors", 200, some_actors());
  src.on("GET", "/debug/pools", 200, some_pools());
  CHECK(complete(src, "", "t")
        == std::vector<std::string>{"top", "trace", "tree"});
  CHECK(complete(src, "", "st") == std::vector<std::string>{"stats"});
  CHECK(complete(src, "info ", "connection:")
        == std::vector<std::string>{"connection:mem#0", "connection:mem#1"});
  CHECK(complete(src, "kill ", "1")
        == std::vector<std::string>{"12", "13", "14"});
  CHECK(complete(src, "trace ", "conn")
        == std::vector<std::string>{"connection", "connection:mem#0",
                                    "connection:mem#1"});
  CHECK(complete(src, "info pool:mem ", "").empty());
  CHECK(complete(src, "top --sort ", "b") == std::vector<std::string>{"busy"});
  CHECK(complete(src, "top ", "--w") == std::vector<std::string>{"--window"});
  CHECK(complete(src, "pool ", "") == std::vector<std::string>{"disk", "pg"});
  CHECK(complete(src, "slowlog ", "")
        == std::vector<std::string>{"get", "reset", "threshold"});
  CHECK(complete(src, "log level ", "c")
        == std::vector<std::string>{"critical"});
  CHECK(complete(src, "watch ", "po")
        == std::vector<std::string>{"pool", "pools"});
  CHECK(complete(src, "watch --interval 2s info ", "pool:")
        == std::vector<std::string>{"pool:mem"});
  CHECK(complete(src, "help ", "ki") == std::vector<std::string>{"kill"});
  CHECK(complete(src, "", "ste").empty()); // step: recorded runs only
}

// --- recorded runs ------------------------------------------------------------------

TEST_CASE("a recorded run steps, goes back and shows mailboxes", "[console]") {
  scripted_source run_src;
  run_src.recorded_ = true;
  json position = {{"step", 121},
                   {"steps", 5230},
                   {"t_ms", 300},
                   {"event", "deliver 12 -> 13 run_job"}};
  run_src.on("POST", "/run/step/1", 200, position);
  run_src.on("POST", "/run/back/10", 200, position);
  run_src.on("POST", "/run/goto/300ms", 200, position);
  run_src.on("POST", "/run/goto/121", 200, position);
  run_src.on("POST", "/run/goto/2000ms", 200, position);
  run_src.on("GET", "/debug/actors", 200, some_actors());
  run_src.on("GET", "/run/mailbox/13", 200,
             {{"actor", 13},
              {"label", "connection:mem#0"},
              {"messages", {{{"from", 12}, {"message", "run_job"}}}}});
  run step(run_src, "step");
  CHECK(step.result == outcome::ok);
  CHECK(step.out.str()
        == "step 121 of 5230 at 300 ms: deliver 12 -> 13 run_job\n");
  run_src.on("POST", "/run/step/7", 200,
             {{"step", 7268},
              {"steps", 63326},
              {"t_ms", 1000},
              {"event",
               {{"actor", "clock"},
                {"event", "advance"},
                {"message", "4ms now=1000ms"},
                {"step", 7268},
                {"t_ms", 1000}}},
              {"note", "step 7268 is the first at or after 1000 ms"},
              {"at_end", false}});
  run seven(run_src, "step 7");
  CHECK(seven.out.str()
        == "step 7268 of 63326 at 1 s: clock advance: 4ms now=1000ms\n"
           "(step 7268 is the first at or after 1000 ms)\n");
  run zero(run_src, "step 0");
  CHECK(zero.result == outcome::usage);
  CHECK(run(run_src, "back 10").result == outcome::ok);
  CHECK(run(run_src, "goto 300ms").result == outcome::ok);
  CHECK(run(run_src, "goto 121").result == outcome::ok);
  CHECK(run(run_src, "goto 2s").result == outcome::ok);
  CHECK(run_src.asked.back() == "POST /run/goto/2000ms");
  run bad_goto(run_src, "goto soon");
  CHECK(bad_goto.result == outcome::usage);
  CHECK(has(bad_goto.err.str(), "not \"soon\""));
  run box(run_src, "mailbox connection:mem#0");
  CHECK(box.result == outcome::ok);
  CHECK(has(box.out.str(), "connection:mem#0 (13): 1 message waiting\n"));
  CHECK(has(box.out.str(), "1  12    run_job"));
  // What acts on a live gateway is refused.
  run kill(run_src, "kill 13");
  CHECK(kill.result == outcome::failed);
  CHECK(has(kill.err.str(), "kill: not available on a recorded run"));
  run watch(run_src, "watch tree");
  CHECK(watch.result == outcome::failed);
  run threshold(run_src, "slowlog threshold 5");
  CHECK(threshold.result == outcome::failed);
  // step and friends exist only there.
  scripted_source live;
  run live_step(live, "step");
  CHECK(live_step.result == outcome::usage);
  CHECK(has(live_step.err.str(), "step: only for a recorded run"));
}
