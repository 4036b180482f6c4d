// The KeyValue driver contract: every case runs against the memory, the
// SQLite and the PostgreSQL driver, made through the real driver factory,
// with time moved by a manual clock. Cases for one driver follow: SQLite
// (persistence, WAL, several connections on one file, busy handling, open
// errors, shutdown) and PostgreSQL (schema, compare-and-set races across
// connections, broken connections, lock waits against deadlines, passwords,
// connecting, reconnecting).
//
// The PostgreSQL cases need a server: PRISM_TEST_PG_DSN names it, and
// scripts/dev test starts a private one (scripts/test-postgres). Without it
// they fail, saying so. Each case gets a schema of its own on that server
// (the driver's connections select it with search_path), dropped at its end,
// so cases running at once in several processes do not see each other.

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "drivers/driver.hpp"
#include "drivers/factory.hpp"
#include "drivers/memory/memory_store.hpp"
#include "drivers/postgres/postgres_driver.hpp"

namespace {

namespace fs = std::filesystem;
using namespace prism;
using namespace std::string_literals;
using namespace std::chrono_literals;

constexpr auto deadline = 60s;

/// A fresh directory, removed with everything in it at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern
      = (fs::temp_directory_path() / "prism-driver-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

template <class T>
T ok(model::outcome out) {
  INFO("status " << to_string(out.status.code) << ": " << out.status.message);
  REQUIRE(out.status.ok());
  REQUIRE(std::holds_alternative<T>(out.value));
  return std::get<T>(std::move(out.value));
}

model::outcome run(drivers::kv_driver& d, const std::string& ns,
                   model::operation op) {
  auto promise = std::make_shared<std::promise<model::outcome>>();
  auto future = promise->get_future();
  d.execute(
    ns, std::make_shared<const model::operation>(std::move(op)),
    [promise](model::outcome out) { promise->set_value(std::move(out)); });
  REQUIRE(future.wait_for(deadline) == std::future_status::ready);
  return future.get();
}

uint64_t reclaim(drivers::kv_driver& d, uint32_t max_keys) {
  auto promise = std::make_shared<std::promise<uint64_t>>();
  auto future = promise->get_future();
  d.reclaim_expired(max_keys, [promise](uint64_t n) { promise->set_value(n); });
  REQUIRE(future.wait_for(deadline) == std::future_status::ready);
  return future.get();
}

model::operation set_op(std::string key, std::string value, uint64_t ttl_ms = 0,
                        std::optional<uint64_t> if_version = std::nullopt) {
  model::set_op op;
  op.key = std::move(key);
  op.value = std::move(value);
  op.ttl_ms = ttl_ms;
  op.if_version = if_version;
  return op;
}

model::operation scan_op(std::string prefix, std::string start_after,
                         uint32_t limit, bool keys_only = false) {
  model::scan_op op;
  op.prefix = std::move(prefix);
  op.start_after = std::move(start_after);
  op.limit = limit;
  op.keys_only = keys_only;
  return op;
}

std::vector<std::string> keys_of(const std::vector<model::item>& items) {
  std::vector<std::string> out;
  for (const auto& it : items)
    out.push_back(it.key);
  return out;
}

bool memcmp_less(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  const int c = n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
  return c != 0 ? c < 0 : a.size() < b.size();
}

/// Every byte value, repeated to `size` bytes.
std::string binary_value(size_t size, unsigned seed) {
  std::string v(size, '\0');
  for (size_t i = 0; i < size; ++i)
    v[i] = static_cast<char>((i * 131 + seed + (i >> 8)) & 0xff);
  return v;
}

// --- a PostgreSQL server for the tests ---------------------------------------

/// The test server's connection settings, from PRISM_TEST_PG_DSN, to build
/// connection strings with some of them changed.
struct pg_server {
  std::map<std::string, std::string> settings;

  pg_server() {
    const char* env = std::getenv("PRISM_TEST_PG_DSN");
    if (env == nullptr || *env == '\0')
      FAIL("PRISM_TEST_PG_DSN is not set, and the PostgreSQL tests need a "
           "server: run them through scripts/dev test, which starts a "
           "private one, or start one with scripts/test-postgres start and "
           "export the PRISM_TEST_PG_DSN it prints");
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(env, &error);
    if (options == nullptr) {
      std::string why = error != nullptr ? error : "out of memory";
      PQfreemem(error);
      FAIL("PRISM_TEST_PG_DSN is not a libpq connection string: " << why);
    }
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o)
      if (o->val != nullptr && o->val[0] != '\0')
        settings[o->keyword] = o->val;
    PQconninfoFree(options);
  }

  /// A key='value' connection string; an empty value removes a setting.
  std::string dsn(const std::map<std::string, std::string>& changes
                  = {}) const {
    auto all = settings;
    for (const auto& [key, value] : changes) {
      if (value.empty())
        all.erase(key);
      else
        all[key] = value;
    }
    std::string out;
    for (const auto& [key, value] : all) {
      out += key + "='";
      for (char c : value) {
        if (c == '\'' || c == '\\')
          out += '\\';
        out += c;
      }
      out += "' ";
    }
    return out;
  }
};

/// A connection of the test's own, beside the drivers'.
struct pg_admin {
  pqxx::connection conn;
  explicit pg_admin(const std::string& dsn) : conn(dsn) {
    exec("SET client_min_messages = warning");
  }
  pqxx::result exec(const std::string& sql) {
    pqxx::nontransaction tx{conn};
    return tx.exec(sql);
  }
  std::string quote(const std::string& text) { return conn.quote(text); }
};

/// A schema of its own for one test case, dropped with everything in it at
/// the end. Its name also names the backend, and so the application_name of
/// the driver's connections, which tells them apart in pg_stat_activity.
struct pg_scope {
  pg_server server;
  std::string schema;

  pg_scope() {
    static std::atomic<int> counter{0};
    schema = "t" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    pg_admin admin{server.dsn()};
    admin.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    admin.exec("CREATE SCHEMA " + schema);
  }
  ~pg_scope() {
    try {
      pg_admin admin{server.dsn()};
      admin.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    } catch (...) {
    }
  }
  pg_scope(const pg_scope&) = delete;
  pg_scope& operator=(const pg_scope&) = delete;

  /// The server with search_path set to this schema.
  std::string dsn(std::map<std::string, std::string> changes = {}) const {
    changes.emplace("options", "-csearch_path=" + schema);
    return server.dsn(changes);
  }
  std::unique_ptr<pg_admin> admin() const {
    return std::make_unique<pg_admin>(server.dsn());
  }
  std::string table(const std::string& name) const {
    return schema + "." + name;
  }
};

// --- the kinds of driver ----------------------------------------------------

struct memory_kind {
  static constexpr bool is_sqlite = false;
  static constexpr bool is_postgres = false;
  struct scope {};
  static config::backend make(const fs::path&, const scope&) {
    config::backend b;
    b.name = "mem";
    b.type = config::backend_type::memory;
    return b;
  }
};

struct sqlite_kind {
  static constexpr bool is_sqlite = true;
  static constexpr bool is_postgres = false;
  struct scope {};
  static config::backend make(const fs::path& dir, const scope& = {}) {
    config::backend b;
    b.name = "db";
    b.type = config::backend_type::sqlite;
    b.connections = 4;
    b.sqlite.path = (dir / "data" / "prism.db").string();
    b.sqlite.synchronous = config::sqlite_synchronous::normal;
    b.sqlite.busy_timeout_ms = 5000;
    return b;
  }
};

struct postgres_kind {
  static constexpr bool is_sqlite = false;
  static constexpr bool is_postgres = true;
  using scope = pg_scope;
  static config::backend make(const fs::path&, const scope& s) {
    config::backend b;
    b.name = s.schema;
    b.type = config::backend_type::postgres;
    b.connections = 4;
    b.postgres.dsn = s.dsn();
    b.postgres.connect_timeout_ms = 10000;
    b.postgres.statement_timeout_ms = 30000;
    return b;
  }
};

/// One driver of a fresh backend, and helpers for the common operations.
template <class Kind>
struct fixture {
  temp_dir dir; // destroyed last: after every driver
  typename Kind::scope scope; // likewise: outlives the drivers
  std::shared_ptr<drivers::manual_clock> clock
    = std::make_shared<drivers::manual_clock>();
  drivers::driver_factory factory = drivers::make_real_driver_factory(clock);
  config::backend backend = Kind::make(dir.path, scope);
  std::unique_ptr<drivers::kv_driver> driver = factory(backend, 0);

  model::outcome run(model::operation op, const std::string& ns = "ns") {
    return ::run(*driver, ns, std::move(op));
  }
  model::get_result get(const std::string& key, const std::string& ns = "ns") {
    return ok<model::get_result>(run(model::get_op{key}, ns));
  }
  bool exists(const std::string& key, const std::string& ns = "ns") {
    return ok<model::exists_result>(run(model::exists_op{key}, ns)).exists;
  }
  uint64_t set(const std::string& key, const std::string& value,
               uint64_t ttl_ms = 0, const std::string& ns = "ns") {
    return ok<model::set_result>(run(set_op(key, value, ttl_ms), ns)).version;
  }
  bool del(const std::string& key, const std::string& ns = "ns") {
    return ok<model::delete_result>(run(model::delete_op{key}, ns)).existed;
  }
  std::vector<uint64_t> batch_set(std::vector<model::entry> entries,
                                  const std::string& ns = "ns") {
    model::batch_set_op op;
    op.entries = std::move(entries);
    return ok<model::batch_set_result>(run(op, ns)).versions;
  }
  model::scan_result scan(const std::string& prefix,
                          const std::string& start_after, uint32_t limit,
                          bool keys_only = false,
                          const std::string& ns = "ns") {
    return ok<model::scan_result>(
      run(scan_op(prefix, start_after, limit, keys_only), ns));
  }
  /// Every key of a scan, paging with `limit`.
  std::vector<std::string> scan_all(const std::string& prefix, uint32_t limit,
                                    const std::string& ns = "ns") {
    std::vector<std::string> out;
    std::string after;
    for (int pages = 0; pages < 100000; ++pages) {
      auto page = scan(prefix, after, limit, true, ns);
      REQUIRE(page.items.size() <= limit);
      for (auto& it : page.items)
        out.push_back(it.key);
      if (page.next_start_after.empty())
        return out;
      REQUIRE(page.items.size() == limit);
      REQUIRE(page.next_start_after == page.items.back().key);
      after = page.next_start_after;
    }
    FAIL("scan did not end");
    return out;
  }
};

#define CONTRACT_CASE(name, tags)                                              \
  TEMPLATE_TEST_CASE(name, "[driver]" tags, memory_kind, sqlite_kind,          \
                     postgres_kind)

// --- the contract -----------------------------------------------------------

CONTRACT_CASE("get of a missing key answers found=false", "[get]") {
  fixture<TestType> f;
  auto r = f.get("nothing");
  CHECK_FALSE(r.found);
  CHECK(r.value.empty());
  CHECK(r.version == 0);
  CHECK_FALSE(f.exists("nothing"));
}

CONTRACT_CASE("set then get returns the value and version", "[set][get]") {
  fixture<TestType> f;
  const uint64_t v = f.set("k", "hello");
  CHECK(v == 1); // the first version of a namespace
  auto r = f.get("k");
  CHECK(r.found);
  CHECK(r.value == "hello");
  CHECK(r.version == v);

  // An empty value is still a value.
  const uint64_t v2 = f.set("empty", "");
  auto e = f.get("empty");
  CHECK(e.found);
  CHECK(e.value.empty());
  CHECK(e.version == v2);
}

CONTRACT_CASE("versions strictly increase, also across delete and re-create",
              "[set][versions]") {
  fixture<TestType> f;
  const uint64_t a1 = f.set("a", "1");
  const uint64_t b1 = f.set("b", "1");
  const uint64_t a2 = f.set("a", "2");
  CHECK(a1 < b1);
  CHECK(b1 < a2);
  CHECK(a2 == a1 + 2); // one namespace counter, shared by its keys
  CHECK(f.del("a"));
  CHECK_FALSE(f.get("a").found);
  const uint64_t a3 = f.set("a", "3");
  CHECK(a3 > a2);
  CHECK(f.get("a").version == a3);
  CHECK(f.get("a").value == "3");
}

CONTRACT_CASE("compare-and-set succeeds on a match and changes nothing on a "
              "mismatch",
              "[set][cas]") {
  fixture<TestType> f;
  const uint64_t v1 = f.set("k", "one");
  const uint64_t v2
    = ok<model::set_result>(f.run(set_op("k", "two", 0, v1))).version;
  CHECK(v2 > v1);

  auto stale = f.run(set_op("k", "three", 0, v1));
  CHECK(stale.status.code == status_code::failed_precondition);
  CHECK(stale.status.message
        == "version mismatch on key \"k\": expected " + std::to_string(v1)
          + ", current " + std::to_string(v2));
  CHECK(std::holds_alternative<std::monostate>(stale.value));

  auto r = f.get("k");
  CHECK(r.value == "two");
  CHECK(r.version == v2);
  // The failed write did not use up a version either.
  CHECK(f.set("other", "x") == v2 + 1);

  // A version the key never had, on a missing key.
  auto missing = f.run(set_op("nope", "x", 0, uint64_t{7}));
  CHECK(missing.status.code == status_code::failed_precondition);
  CHECK(missing.status.message
        == "version mismatch on key \"nope\": expected 7, current: absent");
  CHECK_FALSE(f.get("nope").found);
}

CONTRACT_CASE("if_version=0 writes only when the key is absent", "[set][cas]") {
  fixture<TestType> f;
  const uint64_t v
    = ok<model::set_result>(f.run(set_op("k", "first", 0, 0))).version;
  CHECK(f.get("k").value == "first");

  auto again = f.run(set_op("k", "second", 0, 0));
  CHECK(again.status.code == status_code::failed_precondition);
  CHECK(again.status.message
        == "version mismatch on key \"k\": expected 0, current "
          + std::to_string(v));
  CHECK(f.get("k").value == "first");
  CHECK(f.get("k").version == v);
}

CONTRACT_CASE("mismatch messages show unprintable key bytes escaped",
              "[set][cas]") {
  fixture<TestType> f;
  auto out = f.run(set_op("a\0\xff\"b"s, "x", 0, uint64_t{1}));
  CHECK(out.status.code == status_code::failed_precondition);
  CHECK(out.status.message
        == "version mismatch on key \"a\\x00\\xff\\\"b\": expected 1, "
           "current: absent");
}

CONTRACT_CASE("an expired key is absent to every operation at once, and "
              "reclaim removes it",
              "[ttl]") {
  fixture<TestType> f;
  for (const char* k : {"e1", "e2", "e3", "e4", "e5", "over"})
    f.set(k, "short", 1000);
  f.set("long", "x", 5000);
  f.set("forever", "x");
  f.set("over", "now without ttl"); // a write without TTL clears the expiry
  const uint64_t e5_version = f.get("e5").version;

  f.clock->advance_ms(999);
  CHECK(f.get("e1").found);
  CHECK(f.exists("e2"));
  CHECK(reclaim(*f.driver, 100) == 0);

  f.clock->advance_ms(1); // expires_at == now: gone
  auto g = f.get("e1");
  CHECK_FALSE(g.found);
  CHECK(g.version == 0);
  CHECK(g.value.empty());
  CHECK_FALSE(f.exists("e2"));
  CHECK(keys_of(f.scan("", "", 100).items)
        == std::vector<std::string>{"forever", "long", "over"});
  {
    model::batch_get_op op;
    op.keys = {"e1", "long", "e2"};
    auto items = ok<model::batch_get_result>(f.run(op)).items;
    REQUIRE(items.size() == 3);
    CHECK_FALSE(items[0].found);
    CHECK(items[1].found);
    CHECK_FALSE(items[2].found);
  }
  CHECK_FALSE(f.del("e3"));
  {
    model::batch_delete_op op;
    op.keys = {"e4", "forever"};
    CHECK(ok<model::batch_delete_result>(f.run(op)).deleted == 1);
  }
  {
    auto stale = f.run(set_op("e5", "again", 0, e5_version));
    CHECK(stale.status.code == status_code::failed_precondition);
    CHECK(stale.status.message
          == "version mismatch on key \"e5\": expected "
            + std::to_string(e5_version) + ", current: absent");
    auto fresh = ok<model::set_result>(f.run(set_op("e5", "again", 0, 0)));
    CHECK(fresh.version > e5_version);
    CHECK(f.get("e5").value == "again");
  }
  CHECK(f.get("over").found);

  // Left to reclaim: e1 and e2 (e3 and e4 were deleted, e5 rewritten).
  CHECK(reclaim(*f.driver, 1) == 1);
  CHECK(reclaim(*f.driver, 100) == 1);
  CHECK(reclaim(*f.driver, 100) == 0);
  CHECK(f.get("long").found);
  CHECK(f.get("over").found);
  CHECK(f.get("e5").found);

  f.clock->advance_ms(4000);
  CHECK_FALSE(f.get("long").found);
  CHECK(reclaim(*f.driver, 0) == 0);
  CHECK(reclaim(*f.driver, 100) == 1);
  CHECK(f.get("over").found);
  CHECK(f.get("e5").found);
}

CONTRACT_CASE("delete answers whether the key existed", "[delete]") {
  fixture<TestType> f;
  CHECK_FALSE(f.del("k"));
  f.set("k", "v");
  CHECK(f.del("k"));
  CHECK_FALSE(f.get("k").found);
  CHECK_FALSE(f.del("k"));
}

CONTRACT_CASE("exists answers whether the key is present", "[exists]") {
  fixture<TestType> f;
  CHECK_FALSE(f.exists("k"));
  f.set("k", "v");
  CHECK(f.exists("k"));
  CHECK_FALSE(f.exists("K"));
  f.del("k");
  CHECK_FALSE(f.exists("k"));
}

CONTRACT_CASE("batch get answers one item per key in request order",
              "[batch]") {
  fixture<TestType> f;
  const uint64_t va = f.set("a", "A");
  const uint64_t vb = f.set("b", "B");
  model::batch_get_op op;
  op.keys = {"b", "missing", "a", "b", ""};
  auto items = ok<model::batch_get_result>(f.run(op)).items;
  REQUIRE(items.size() == 5);
  CHECK(keys_of(items) == op.keys);
  CHECK(items[0].found);
  CHECK(items[0].value == "B");
  CHECK(items[0].version == vb);
  CHECK_FALSE(items[1].found);
  CHECK(items[1].value.empty());
  CHECK(items[1].version == 0);
  CHECK(items[2].found);
  CHECK(items[2].value == "A");
  CHECK(items[2].version == va);
  CHECK(items[3].found);
  CHECK(items[3].value == "B");
  CHECK(items[3].version == vb);
  CHECK_FALSE(items[4].found);

  op.keys.clear();
  CHECK(ok<model::batch_get_result>(f.run(op)).items.empty());
}

CONTRACT_CASE("batch set writes every entry with versions in entry order",
              "[batch]") {
  fixture<TestType> f;
  const uint64_t before = f.set("first", "0");
  auto versions = f.batch_set(
    {{"x", "1", 0}, {"y", "2", 1000}, {"x", "3", 0}, {"z", "4", 0}});
  REQUIRE(versions.size() == 4);
  // All or nothing: one consecutive run of versions, all of them visible.
  for (size_t i = 0; i < versions.size(); ++i)
    CHECK(versions[i] == before + 1 + i);
  auto x = f.get("x");
  CHECK(x.value == "3"); // the later entry for a key wins
  CHECK(x.version == versions[2]);
  CHECK(f.get("y").version == versions[1]);
  CHECK(f.get("z").version == versions[3]);
  CHECK(f.set("after", "5") == versions.back() + 1);

  f.clock->advance_ms(1000); // the entry's TTL applies
  CHECK_FALSE(f.get("y").found);
  CHECK(f.get("x").found);

  CHECK(f.batch_set({}).empty());
}

CONTRACT_CASE("batch delete counts the keys that existed, each once",
              "[batch]") {
  fixture<TestType> f;
  f.set("a", "1");
  f.set("b", "2");
  f.set("c", "3");
  model::batch_delete_op op;
  op.keys = {"a", "a", "missing", "b"};
  CHECK(ok<model::batch_delete_result>(f.run(op)).deleted == 2);
  CHECK_FALSE(f.get("a").found);
  CHECK_FALSE(f.get("b").found);
  CHECK(f.get("c").found);
  CHECK(ok<model::batch_delete_result>(f.run(op)).deleted == 0);
  op.keys.clear();
  CHECK(ok<model::batch_delete_result>(f.run(op)).deleted == 0);
}

CONTRACT_CASE("scan returns keys in bytewise order, zero and high bytes "
              "included",
              "[scan]") {
  fixture<TestType> f;
  const std::vector<std::string> expected
    = {""s,         "\0"s,        "\0\0"s,          "\x01"s,  "a"s,
       "a\0"s,      "a\0b"s,      "a\x01"s,         "a\x7f"s, "a\x80"s,
       "a\xff"s,    "a\xff\xff"s, "a\xff\xff\x01"s, "b"s,     "\x80"s,
       "\xfe\xff"s, "\xff"s,      "\xff\xff"s};
  REQUIRE(std::is_sorted(expected.begin(), expected.end(), memcmp_less));
  // Written in a scrambled order.
  std::vector<std::string> shuffled = expected;
  std::reverse(shuffled.begin(), shuffled.end());
  std::rotate(shuffled.begin(), shuffled.begin() + 7, shuffled.end());
  for (const auto& k : shuffled)
    f.set(k, "v:" + k);
  f.set("a", "elsewhere", 0, "other-ns");

  auto all = f.scan("", "", 1000);
  CHECK(keys_of(all.items) == expected);
  CHECK(all.next_start_after.empty());
  for (const auto& it : all.items) {
    CHECK(it.found);
    CHECK(it.value == "v:" + it.key);
    CHECK(it.version > 0);
  }

  CHECK(
    keys_of(f.scan("a", "", 1000).items)
    == std::vector<std::string>(expected.begin() + 4, expected.begin() + 13));
  CHECK(keys_of(f.scan("a\0"s, "", 1000).items)
        == std::vector<std::string>{"a\0"s, "a\0b"s});
  CHECK(keys_of(f.scan("a\xff"s, "", 1000).items)
        == std::vector<std::string>{"a\xff"s, "a\xff\xff"s, "a\xff\xff\x01"s});
  CHECK(keys_of(f.scan("\xff"s, "", 1000).items)
        == std::vector<std::string>{"\xff"s, "\xff\xff"s});
  CHECK(keys_of(f.scan("\0"s, "", 1000).items)
        == std::vector<std::string>{"\0"s, "\0\0"s});
  CHECK(f.scan("c", "", 1000).items.empty());

  // start_after is exclusive, may name a missing key, and combines with the
  // prefix whichever is greater.
  CHECK(
    keys_of(f.scan("a", "a\x7f"s, 1000).items)
    == std::vector<std::string>(expected.begin() + 9, expected.begin() + 13));
  CHECK(
    keys_of(f.scan("a", "a\x7f\x01"s, 1000).items)
    == std::vector<std::string>(expected.begin() + 9, expected.begin() + 13));
  CHECK(keys_of(f.scan("a\xff"s, "a"s, 1000).items)
        == std::vector<std::string>{"a\xff"s, "a\xff\xff"s, "a\xff\xff\x01"s});
  CHECK(f.scan("a", "b", 1000).items.empty());
  CHECK(keys_of(f.scan("", "\xff"s, 1000).items)
        == std::vector<std::string>{"\xff\xff"s});

  // A page that ends exactly at the last match has no next page.
  auto exact = f.scan("a\xff"s, "", 3);
  CHECK(exact.items.size() == 3);
  CHECK(exact.next_start_after.empty());
  auto partial = f.scan("a\xff"s, "", 2);
  CHECK(partial.items.size() == 2);
  CHECK(partial.next_start_after == "a\xff\xff"s);
}

CONTRACT_CASE("scan pages through more than 1,000 keys, each exactly once",
              "[scan]") {
  fixture<TestType> f;
  std::vector<std::string> expected;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<model::entry> entries;
    for (int i = 0; i < 500; ++i) {
      const int n = batch * 500 + i;
      // Varied lengths and bytes, including zero and high bytes.
      std::string key = "p/" + std::to_string(n * 7919 % 1500);
      key.push_back(static_cast<char>(n % 256));
      if (n % 3 == 0)
        key += "\xf0\x00"s;
      entries.push_back({key, std::to_string(n), 0});
      expected.push_back(key);
    }
    f.batch_set(std::move(entries));
  }
  f.set("q", "outside the prefix");
  f.set("p", "outside the prefix too");
  std::sort(expected.begin(), expected.end(), memcmp_less);
  REQUIRE(std::adjacent_find(expected.begin(), expected.end())
          == expected.end());
  REQUIRE(expected.size() == 1500);

  for (uint32_t limit : {1000u, 100u, 7u}) {
    INFO("limit " << limit);
    auto keys = f.scan_all("p/", limit);
    CHECK(keys.size() == expected.size());
    CHECK(keys == expected);
  }
  CHECK(f.scan_all("", 1000).size() == 1502);
}

CONTRACT_CASE("scan with keys_only leaves values out", "[scan]") {
  fixture<TestType> f;
  const uint64_t va = f.set("a", "value a");
  const uint64_t vb = f.set("b", "value b");
  auto r = f.scan("", "", 10, true);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].key == "a");
  CHECK(r.items[0].found);
  CHECK(r.items[0].value.empty());
  CHECK(r.items[0].version == va);
  CHECK(r.items[1].key == "b");
  CHECK(r.items[1].found);
  CHECK(r.items[1].value.empty());
  CHECK(r.items[1].version == vb);

  auto full = f.scan("", "", 10, false);
  REQUIRE(full.items.size() == 2);
  CHECK(full.items[0].value == "value a");
}

CONTRACT_CASE("namespaces are separate key spaces with their own versions",
              "[namespace]") {
  fixture<TestType> f;
  CHECK(f.set("k", "in one", 0, "one") == 1);
  CHECK(f.set("k2", "in one", 0, "one") == 2);
  CHECK(f.set("k", "in two", 0, "two") == 1);
  CHECK(f.get("k", "one").value == "in one");
  CHECK(f.get("k", "two").value == "in two");
  CHECK_FALSE(f.get("k", "three").found);
  CHECK(f.del("k", "one"));
  CHECK_FALSE(f.get("k", "one").found);
  CHECK(f.get("k", "two").found);
  CHECK(keys_of(f.scan("", "", 10, true, "one").items)
        == std::vector<std::string>{"k2"});
  CHECK(keys_of(f.scan("", "", 10, true, "two").items)
        == std::vector<std::string>{"k"});
  CHECK(f.scan("", "", 10, true, "three").items.empty());
  model::batch_delete_op op;
  op.keys = {"k", "k2"};
  CHECK(ok<model::batch_delete_result>(f.run(op, "three")).deleted == 0);
  CHECK(f.get("k2", "one").found);
}

CONTRACT_CASE("1 MiB binary values round trip", "[values]") {
  fixture<TestType> f;
  const std::string big = binary_value(1 << 20, 1);
  REQUIRE(big.find('\0') != std::string::npos);
  const std::string key = "big\0key\xff"s;
  const uint64_t v = f.set(key, big);
  auto r = f.get(key);
  CHECK(r.found);
  CHECK(r.version == v);
  CHECK(r.value.size() == big.size());
  CHECK(r.value == big);

  const std::string big2 = binary_value((1 << 20) + 3, 7);
  f.batch_set({{"b1", big2, 0}, {"b2", big, 0}});
  model::batch_get_op op;
  op.keys = {"b2", "b1", key};
  auto items = ok<model::batch_get_result>(f.run(op)).items;
  REQUIRE(items.size() == 3);
  CHECK(items[0].value == big);
  CHECK(items[1].value == big2);
  CHECK(items[2].value == big);
  auto page = f.scan("b", "", 10);
  REQUIRE(page.items.size() == 3);
  CHECK(page.items[0].value == big2);
}

CONTRACT_CASE("drivers describe themselves", "[describe]") {
  fixture<TestType> f;
  if constexpr (TestType::is_sqlite) {
    auto d = f.factory(f.backend, 2);
    CHECK(d->describe() == "sqlite " + f.backend.sqlite.path + " #2");
  } else if constexpr (TestType::is_postgres) {
    auto d = f.factory(f.backend, 2);
    const auto& s = f.scope.server.settings;
    std::string target = s.at("host");
    if (s.count("port"))
      target += ":" + s.at("port");
    if (s.count("user"))
      target = s.at("user") + "@" + target;
    if (s.count("dbname"))
      target += "/" + s.at("dbname");
    CHECK(d->describe() == "postgres " + target + " #2");
  } else {
    CHECK(f.driver->describe() == "memory mem");
  }
}

CONTRACT_CASE("connections of one backend see the same data", "[connections]") {
  fixture<TestType> f;
  auto second = f.factory(f.backend, 1);
  const uint64_t v = f.set("shared", "from the first");
  auto r = ok<model::get_result>(run(*second, "ns", model::get_op{"shared"}));
  CHECK(r.found);
  CHECK(r.value == "from the first");
  CHECK(r.version == v);
  auto w
    = ok<model::set_result>(run(*second, "ns", set_op("shared", "second")));
  CHECK(w.version == v + 1);
  CHECK(f.get("shared").value == "second");
}

// --- memory only ------------------------------------------------------------

CONTRACT_CASE("a BatchGet whose answer would pass its byte limit fails, a "
              "Scan page ends before it",
              "[batch][scan][limits]") {
  fixture<TestType> f;
  const std::string value(1000, 'v');
  f.set("a", value);
  f.set("b", value);
  f.set("c", value);

  // One large value named again and again: refused, whatever the count.
  model::batch_get_op many;
  many.keys = {"a", "a", "a"};
  many.answer_bytes_max = 2500;
  auto refused = f.run(many);
  CHECK(refused.status.code == status_code::invalid_argument);
  CHECK_THAT(refused.status.message,
             Catch::Contains("more than 2500 bytes")
               && Catch::Contains("ask for fewer keys"));
  // So are three different keys, each within the limit.
  model::batch_get_op distinct;
  distinct.keys = {"a", "b", "c"};
  distinct.answer_bytes_max = 2500;
  CHECK(f.run(distinct).status.code == status_code::invalid_argument);
  // One found key always comes, however large (as a Get would give it).
  model::batch_get_op single;
  single.keys = {"missing", "b"};
  single.answer_bytes_max = 10;
  auto alone = ok<model::batch_get_result>(f.run(single)).items;
  REQUIRE(alone.size() == 2);
  CHECK(alone[1].value == value);
  single.keys = {"b", "b"};
  CHECK(f.run(single).status.code == status_code::invalid_argument);
  // Exactly at the limit passes; a missing key costs nothing.
  model::batch_get_op fits;
  fits.keys = {"a", "missing", "b"};
  fits.answer_bytes_max = 2002;
  auto items = ok<model::batch_get_result>(f.run(fits)).items;
  REQUIRE(items.size() == 3);
  CHECK(items[0].value == value);
  CHECK_FALSE(items[1].found);
  CHECK(items[2].value == value);

  model::scan_op page_op;
  page_op.limit = 10;
  page_op.answer_bytes_max = 2500;
  auto page = ok<model::scan_result>(f.run(page_op));
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[1].key == "b");
  CHECK(page.next_start_after == "b");
  page_op.start_after = page.next_start_after;
  page = ok<model::scan_result>(f.run(page_op));
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].key == "c");
  CHECK(page.next_start_after.empty());
  // An item larger than the limit still comes, alone, so paging goes on.
  page_op.start_after.clear();
  page_op.answer_bytes_max = 10;
  page = ok<model::scan_result>(f.run(page_op));
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].value == value);
  CHECK(page.next_start_after == "a");
  // Without values, only the keys count.
  page_op.keys_only = true;
  page = ok<model::scan_result>(f.run(page_op));
  CHECK(page.items.size() == 3);
  CHECK(page.next_start_after.empty());
}

TEST_CASE("memory driver completes inline", "[driver][memory]") {
  fixture<memory_kind> f;
  bool called = false;
  f.driver->execute(
    "ns", std::make_shared<const model::operation>(model::get_op{"k"}),
    [&](model::outcome out) {
      called = true;
      CHECK(out.status.ok());
    });
  CHECK(called);
  bool reclaimed = false;
  f.driver->reclaim_expired(10, [&](uint64_t) { reclaimed = true; });
  CHECK(reclaimed);
}

TEST_CASE("memory backends with different names are separate",
          "[driver][memory]") {
  fixture<memory_kind> f;
  auto other_backend = f.backend;
  other_backend.name = "mem2";
  auto other = f.factory(other_backend, 0);
  f.set("k", "v");
  CHECK_FALSE(
    ok<model::get_result>(run(*other, "ns", model::get_op{"k"})).found);
  // A new factory starts empty.
  auto fresh = drivers::make_real_driver_factory(f.clock)(f.backend, 0);
  CHECK_FALSE(
    ok<model::get_result>(run(*fresh, "ns", model::get_op{"k"})).found);
}

TEST_CASE("memory store is deterministic and counts unreclaimed entries",
          "[memory_store]") {
  auto script = [](drivers::memory_store& s) {
    std::vector<std::string> trace;
    int64_t now = 1000;
    for (int i = 0; i < 200; ++i) {
      const std::string key = "k" + std::to_string(i * 37 % 50);
      auto out = s.apply("n" + std::to_string(i % 3),
                         i % 5 == 0 ? model::operation{model::delete_op{key}}
                                    : set_op(key, "v", i % 4 == 0 ? 10 : 0),
                         now);
      trace.push_back(std::to_string(out.status.ok()) + ":"
                      + std::to_string(out.value.index()));
      now += 3;
      if (i % 20 == 0)
        trace.push_back("r" + std::to_string(s.reclaim_expired(now, 2)));
    }
    auto page = s.apply("n1", scan_op("", "", 1000), now);
    for (const auto& it : std::get<model::scan_result>(page.value).items)
      trace.push_back(it.key + "@" + std::to_string(it.version));
    trace.push_back("size " + std::to_string(s.size()));
    return trace;
  };
  drivers::memory_store a, b;
  CHECK(script(a) == script(b));

  drivers::memory_store s;
  CHECK(s.size() == 0);
  s.apply("n", set_op("x", "1", 10), 0);
  s.apply("n", set_op("y", "1", 10), 0);
  s.apply("m", set_op("x", "1"), 0);
  CHECK(s.size() == 3);
  // Expired but not reclaimed: still held, not visible.
  CHECK_FALSE(
    std::get<model::get_result>(s.apply("n", model::get_op{"x"}, 10).value)
      .found);
  CHECK(s.size() == 3);
  CHECK(s.reclaim_expired(10, 1) == 1);
  CHECK(s.size() == 2);
  CHECK(s.reclaim_expired(10, 10) == 1);
  CHECK(s.size() == 1);
  CHECK(s.reclaim_expired(10, 10) == 0);
}

TEST_CASE("prefix successor and expiry helpers", "[memory_store]") {
  CHECK(model::prefix_successor("") == std::nullopt);
  CHECK(model::prefix_successor("\xff\xff"s) == std::nullopt);
  CHECK(model::prefix_successor("a") == "b"s);
  CHECK(model::prefix_successor("a\xff"s) == "b"s);
  CHECK(model::prefix_successor("a\0"s) == "a\x01"s);
  CHECK(model::prefix_successor("\x7f"s) == "\x80"s);
  CHECK(model::expiry_for(100, 0) == 0);
  CHECK(model::expiry_for(100, 5) == 105);
  CHECK(model::expiry_for(100, ~uint64_t{0})
        == std::numeric_limits<int64_t>::max());
}

// --- SQLite only ------------------------------------------------------------

/// A raw connection to a test database, for looking behind the driver.
struct raw_db {
  sqlite3* db = nullptr;
  explicit raw_db(const std::string& path, int busy_timeout_ms = 0) {
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, busy_timeout_ms);
  }
  ~raw_db() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  }
  /// The details of EXPLAIN QUERY PLAN, one line per step.
  std::string plan(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    const std::string explain = "EXPLAIN QUERY PLAN " + sql;
    REQUIRE(sqlite3_prepare_v2(db, explain.c_str(), -1, &s, nullptr)
            == SQLITE_OK);
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW)
      out
        += std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 3)))
        + "\n";
    sqlite3_finalize(s);
    return out;
  }
};

TEST_CASE("sqlite keeps data and the version counter across a reopen",
          "[driver][sqlite]") {
  fixture<sqlite_kind> f;
  f.set("a", "kept");
  const std::string big = binary_value(100000, 3);
  f.batch_set({{"b", big, 0}, {"t", "with ttl", 60000}});
  const uint64_t last = f.set("deleted-later", "x");
  f.del("deleted-later");
  f.driver.reset();

  auto factory = drivers::make_real_driver_factory(f.clock);
  f.driver = factory(f.backend, 0);
  CHECK(f.get("a").value == "kept");
  CHECK(f.get("b").value == big);
  CHECK(f.get("t").found);
  CHECK_FALSE(f.get("deleted-later").found);
  CHECK(f.set("new", "y") == last + 1);
  CHECK(f.set("deleted-later", "again") == last + 2);
  // The stored expiry survives too.
  f.clock->advance_ms(60000);
  CHECK_FALSE(f.get("t").found);
  CHECK(reclaim(*f.driver, 10) == 1);
}

TEST_CASE("sqlite uses WAL and the documented schema", "[driver][sqlite]") {
  fixture<sqlite_kind> f;
  f.set("k", "v");
  raw_db raw{f.backend.sqlite.path};
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  CHECK(raw.text("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                 "tbl_name = 'kv' AND sql IS NOT NULL")
        == "kv_expiry");
  CHECK(raw.text("SELECT sql FROM sqlite_master WHERE name = 'kv'")
          .find("WITHOUT ROWID")
        != std::string::npos);
  CHECK(raw.text("SELECT typeof(key) || ',' || typeof(value) FROM kv")
        == "blob,blob");
  CHECK(raw.text("SELECT counter FROM kv_version WHERE ns = 'ns'") == "1");
  // Reclaiming expired keys walks the expiry index, not the table.
  const auto plan
    = raw.plan("DELETE FROM kv WHERE (ns, key) IN (SELECT ns, key FROM kv "
               "WHERE expires_at > 0 AND expires_at <= 5 ORDER BY expires_at "
               "LIMIT 10)");
  INFO(plan);
  CHECK(plan.find("INDEX kv_expiry") != std::string::npos);
  CHECK(plan.find("SCAN") == std::string::npos);
}

TEST_CASE("sqlite opens and writes with either synchronous setting",
          "[driver][sqlite]") {
  for (auto mode :
       {config::sqlite_synchronous::normal, config::sqlite_synchronous::full}) {
    fixture<sqlite_kind> f;
    f.backend.sqlite.synchronous = mode;
    f.driver = f.factory(f.backend, 1);
    CHECK(f.set("k", "v") == 1);
    CHECK(f.get("k").value == "v");
  }
}

/// Completions of many operations issued at once.
struct collector {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<model::outcome> outcomes;
  size_t calls = 0;

  drivers::kv_driver::completion callback() {
    return [this](model::outcome out) {
      std::lock_guard<std::mutex> guard{mutex};
      outcomes.push_back(std::move(out));
      ++calls;
      cv.notify_all();
    };
  }
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock{mutex};
    return cv.wait_for(lock, deadline, [&] { return calls >= n; });
  }
};

TEMPLATE_TEST_CASE("concurrent writers on four connections all succeed with "
                   "unique versions",
                   "[driver][concurrency]", sqlite_kind, postgres_kind) {
  fixture<TestType> f;
  std::vector<std::unique_ptr<drivers::kv_driver>> drivers;
  for (uint32_t i = 0; i < 4; ++i)
    drivers.push_back(f.factory(f.backend, i));

  constexpr int per_driver = 150;
  collector writes;
  collector claims;
  for (int n = 0; n < per_driver; ++n) {
    for (size_t d = 0; d < drivers.size(); ++d) {
      // Own keys, shared keys, and batches.
      const std::string own = "d" + std::to_string(d) + "/" + std::to_string(n);
      drivers[d]->execute(
        "ns", std::make_shared<const model::operation>(set_op(own, "v")),
        writes.callback());
      if (n % 10 == 0) {
        model::batch_set_op batch;
        batch.entries = {{"shared/a", own, 0}, {"shared/b", own, 0}};
        drivers[d]->execute("ns",
                            std::make_shared<const model::operation>(batch),
                            writes.callback());
      }
      // Every connection races to create the same keys: one wins each.
      drivers[d]->execute("ns",
                          std::make_shared<const model::operation>(set_op(
                            "claim/" + std::to_string(n % 50), own, 0, 0)),
                          claims.callback());
    }
  }
  const size_t expected_writes = 4 * per_driver + 4 * (per_driver / 10);
  REQUIRE(writes.wait_for(expected_writes));
  REQUIRE(claims.wait_for(4 * per_driver));

  std::set<uint64_t> versions;
  size_t count = 0;
  for (auto& out : writes.outcomes) {
    INFO(out.status.message);
    REQUIRE(out.status.ok());
    if (auto* s = std::get_if<model::set_result>(&out.value)) {
      versions.insert(s->version);
      ++count;
    } else {
      for (auto v : std::get<model::batch_set_result>(out.value).versions) {
        versions.insert(v);
        ++count;
      }
    }
  }
  size_t won = 0;
  for (auto& out : claims.outcomes) {
    if (out.status.ok()) {
      ++won;
      versions.insert(std::get<model::set_result>(out.value).version);
      ++count;
    } else {
      INFO(out.status.message);
      CHECK(out.status.code == status_code::failed_precondition);
    }
  }
  CHECK(won == 50);
  CHECK(versions.size() == count);
  CHECK(*versions.rbegin() == count); // no gaps, no repeats
  CHECK(f.scan_all("d", 1000).size() == 4 * per_driver);
}

TEST_CASE("sqlite: a busy database fails the whole batch and writes nothing",
          "[driver][sqlite]") {
  fixture<sqlite_kind> f;
  f.backend.sqlite.busy_timeout_ms = 0;
  f.driver = f.factory(f.backend, 0);
  const uint64_t before = f.set("before", "x");

  {
    raw_db raw{f.backend.sqlite.path};
    raw.exec("BEGIN IMMEDIATE");
    model::batch_set_op op;
    op.entries = {{"a", "1", 0}, {"b", "2", 0}};
    auto out = f.run(op);
    CHECK(out.status.code == status_code::unavailable);
    CHECK(out.status.message.rfind("database is busy: ", 0) == 0);
    auto single = f.run(set_op("c", "3"));
    CHECK(single.status.code == status_code::unavailable);
    // Reads go on while another connection holds the write lock.
    CHECK(f.get("before").found);
    raw.exec("ROLLBACK");
  }
  CHECK_FALSE(f.get("a").found);
  CHECK_FALSE(f.get("b").found);
  CHECK_FALSE(f.get("c").found);
  CHECK(f.set("after", "y") == before + 1);
}

TEST_CASE("sqlite: a batch failing on a later entry is rolled back",
          "[driver][sqlite]") {
  fixture<sqlite_kind> f;
  const uint64_t before = f.set("keep", "old");
  {
    raw_db raw{f.backend.sqlite.path, 5000};
    raw.exec("CREATE TRIGGER reject_bad BEFORE INSERT ON kv "
             "WHEN NEW.key = CAST('bad' AS BLOB) "
             "BEGIN SELECT RAISE(ABORT, 'rejected by test trigger'); END");
  }
  model::batch_set_op op;
  op.entries = {{"keep", "new", 0}, {"fresh", "1", 0}, {"bad", "2", 0}};
  auto out = f.run(op);
  CHECK(out.status.code == status_code::internal);
  CHECK(out.status.message.find("rejected by test trigger")
        != std::string::npos);
  CHECK(f.get("keep").value == "old");
  CHECK(f.get("keep").version == before);
  CHECK_FALSE(f.get("fresh").found);
  CHECK(f.set("next", "x") == before + 1);
}

TEST_CASE("sqlite: a path that cannot be created fails with an error naming it",
          "[driver][sqlite]") {
  temp_dir dir;
  { std::ofstream{dir.path / "a-file"} << "not a directory"; }
  auto clock = std::make_shared<drivers::manual_clock>();
  auto factory = drivers::make_real_driver_factory(clock);
  auto backend = sqlite_kind::make(dir.path);
  backend.sqlite.path = (dir.path / "a-file" / "sub" / "prism.db").string();
  try {
    factory(backend, 0);
    FAIL("opening " << backend.sqlite.path << " should fail");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find(backend.sqlite.path) != std::string::npos);
    CHECK(what.find("cannot") != std::string::npos);
  }

  // A file that is not a database.
  backend.sqlite.path = (dir.path / "a-file").string();
  try {
    factory(backend, 0);
    FAIL("opening " << backend.sqlite.path << " should fail");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find(backend.sqlite.path) != std::string::npos);
    CHECK(what.find("not a database") != std::string::npos);
  }
}

TEMPLATE_TEST_CASE("destroying a driver completes every queued job once",
                   "[driver]", sqlite_kind, postgres_kind) {
  fixture<TestType> f;
  collector done;
  std::atomic<int> reclaims{0};
  constexpr int jobs = 300;
  for (int i = 0; i < jobs; ++i)
    f.driver->execute("ns",
                      std::make_shared<const model::operation>(
                        set_op("k" + std::to_string(i), "v")),
                      done.callback());
  f.driver->reclaim_expired(10, [&](uint64_t) { ++reclaims; });
  f.driver.reset();
  REQUIRE(done.calls
          == static_cast<size_t>(jobs)); // all before the destructor returned
  CHECK(reclaims == 1);
  size_t succeeded = 0;
  for (auto& out : done.outcomes) {
    if (out.status.ok()) {
      ++succeeded;
    } else {
      CHECK(out.status.code == status_code::unavailable);
      // PostgreSQL may cancel the statement running at that moment, and says
      // so after this.
      CHECK_THAT(out.status.message, Catch::StartsWith("driver shutting down"));
      CHECK_FALSE(out.connection_lost);
    }
  }
  // Whatever succeeded is stored.
  f.driver = f.factory(f.backend, 0);
  CHECK(f.scan_all("k", 1000).size() == succeeded);
}

model::outcome run_within(drivers::kv_driver& d, model::operation op,
                          drivers::op_timeout timeout) {
  auto promise = std::make_shared<std::promise<model::outcome>>();
  auto future = promise->get_future();
  d.execute(
    "ns", std::make_shared<const model::operation>(std::move(op)), timeout,
    [promise](model::outcome out) { promise->set_value(std::move(out)); });
  REQUIRE(future.wait_for(deadline) == std::future_status::ready);
  return future.get();
}

TEST_CASE("sqlite: a write that cannot get the lock before its timeout gives "
          "up with DEADLINE_EXCEEDED and is not applied",
          "[driver][sqlite]") {
  fixture<sqlite_kind> f;
  // A busy timeout far beyond the test's patience: only the request's own
  // timeout can end the wait.
  f.backend.sqlite.busy_timeout_ms = 600000;
  f.driver = f.factory(f.backend, 0);
  f.set("k", "before");
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(f.backend.sqlite.path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr)
          == SQLITE_OK);
  auto out = run_within(*f.driver, set_op("k", "during"), 200ms);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  INFO(out.status.message);
  CHECK(out.status.code == status_code::deadline_exceeded);
  CHECK_THAT(out.status.message, Catch::Contains("not applied"));
  auto got = ok<model::get_result>(f.run(model::get_op{"k"}));
  CHECK(got.value == "before");
  // The connection is usable again, with its own busy timeout back.
  f.set("k", "after");
  CHECK(ok<model::get_result>(f.run(model::get_op{"k"})).value == "after");
}

TEMPLATE_TEST_CASE("an operation whose time is already up is not started",
                   "[driver]", sqlite_kind, postgres_kind) {
  fixture<TestType> f;
  auto out = run_within(*f.driver, set_op("k", "v"), 0ms);
  CHECK(out.status.code == status_code::deadline_exceeded);
  CHECK_FALSE(ok<model::get_result>(f.run(model::get_op{"k"})).found);
  // A generous timeout changes nothing.
  CHECK(run_within(*f.driver, set_op("k", "v"), 60s).status.ok());
}

TEST_CASE("sqlite Set latency, synchronous FULL and NORMAL",
          "[.][bench][sqlite]") {
  for (auto mode :
       {config::sqlite_synchronous::full, config::sqlite_synchronous::normal}) {
    fixture<sqlite_kind> f;
    f.backend.sqlite.synchronous = mode;
    f.driver = f.factory(f.backend, 0);
    constexpr int n = 500;
    const std::string value(100, 'x');
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
      f.set("k" + std::to_string(i), value);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    WARN("synchronous " << (mode == config::sqlite_synchronous::full ? "FULL"
                                                                     : "NORMAL")
                        << ": " << us / n << " us per Set (" << n
                        << " sequential Sets)");
  }
}

// --- PostgreSQL only --------------------------------------------------------

using pg_fixture = fixture<postgres_kind>;

/// Waits until `condition` holds, checking every few milliseconds; false when
/// it still does not after `limit`.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (condition())
      return true;
    if (std::chrono::steady_clock::now() >= end)
      return false;
    std::this_thread::sleep_for(5ms);
  }
}

/// Server processes of a driver's connection, found by its application_name.
std::vector<int> backend_pids(pg_admin& admin, const std::string& app) {
  std::vector<int> pids;
  for (const auto& row :
       admin.exec("SELECT pid FROM pg_stat_activity WHERE application_name = "
                  + admin.quote(app) + " ORDER BY pid"))
    pids.push_back(row[0].as<int>());
  return pids;
}

/// True once connection `app` waits for a lock.
bool waits_for_lock(pg_admin& admin, const std::string& app) {
  return !admin
            .exec("SELECT 1 FROM pg_stat_activity WHERE application_name = "
                  + admin.quote(app) + " AND wait_event_type = 'Lock'")
            .empty();
}

/// A completion to wait for later.
struct pending {
  std::shared_ptr<std::promise<model::outcome>> promise
    = std::make_shared<std::promise<model::outcome>>();
  std::future<model::outcome> future = promise->get_future();

  drivers::kv_driver::completion callback() {
    return [p = promise](model::outcome out) {
      p->set_value(std::move(out));
    };
  }
  model::outcome get() {
    REQUIRE(future.wait_for(deadline) == std::future_status::ready);
    return future.get();
  }
};

void start(drivers::kv_driver& d, pending& p, model::operation op,
           drivers::op_timeout timeout = drivers::no_timeout) {
  d.execute("ns", std::make_shared<const model::operation>(std::move(op)),
            timeout, p.callback());
}

/// A TCP port on 127.0.0.1 that takes connections into its backlog and
/// never answers them.
struct silent_listener {
  int fd = -1;
  uint16_t port = 0;
  silent_listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~silent_listener() { ::close(fd); }
};

/// A port on 127.0.0.1 that nothing listens on: bound, then let go.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string app_of(const config::backend& b, uint32_t index = 0) {
  return drivers::postgres_driver::application_name(b.name, index);
}

TEST_CASE("postgres: one table keyed (ns, key) as bytea, an expiry index, a "
          "version counter per namespace",
          "[driver][postgres]") {
  pg_fixture f;
  f.set("k", "v");
  f.set("k", "w", 0, "other");
  f.set("k2", "w", 0, "other");
  auto admin = f.scope.admin();
  auto columns = admin->exec(
    "SELECT column_name || ' ' || data_type FROM information_schema.columns "
    "WHERE table_schema = "
    + admin->quote(f.scope.schema)
    + " AND table_name = 'prism_kv' ORDER BY ordinal_position");
  std::vector<std::string> got;
  for (const auto& row : columns)
    got.push_back(row[0].c_str());
  CHECK(got
        == std::vector<std::string>{"ns text", "key bytea", "value bytea",
                                    "version bigint", "expires_at bigint"});
  CHECK(admin
          ->exec("SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                 "WHERE indrelid = '"
                 + f.scope.table("prism_kv")
                 + "'::regclass AND indisprimary")[0][0]
          .as<std::string>()
          .find("(ns, key)")
        != std::string::npos);
  CHECK(admin
          ->exec("SELECT counter FROM " + f.scope.table("prism_kv_version")
                 + " WHERE ns = 'other'")[0][0]
          .as<int>()
        == 2);
  // Reclaiming can walk the partial expiry index.
  std::string plan;
  {
    pqxx::work tx{admin->conn};
    tx.exec("SET LOCAL enable_seqscan = off");
    for (const auto& row : tx.exec(
           "EXPLAIN DELETE FROM " + f.scope.table("prism_kv")
           + " WHERE (ns, key) IN (SELECT ns, key FROM "
           + f.scope.table("prism_kv")
           + " WHERE expires_at > 0 AND expires_at <= 5 ORDER BY expires_at "
             "LIMIT 10 FOR UPDATE SKIP LOCKED)"))
      plan += std::string(row[0].c_str()) + "\n";
  }
  INFO(plan);
  CHECK(plan.find("prism_kv_expiry") != std::string::npos);
  // bytea compares bytewise, unsigned, shorter first: the order Scan needs.
  CHECK(admin
          ->exec("SELECT '\\x7f'::bytea < '\\x80'::bytea AND "
                 "'\\x00'::bytea < '\\x0000'::bytea AND "
                 "'\\x61ff'::bytea < '\\x62'::bytea")[0][0]
          .as<bool>());
}

TEST_CASE("postgres: data, expiry and version counters survive a new driver",
          "[driver][postgres]") {
  pg_fixture f;
  f.set("a", "kept");
  f.batch_set({{"t", "with ttl", 60000}});
  const uint64_t last = f.set("gone", "x");
  f.del("gone");
  f.driver.reset();
  f.driver = f.factory(f.backend, 3);
  CHECK(f.get("a").value == "kept");
  CHECK(f.get("t").found);
  CHECK(f.set("new", "y") == last + 1);
  f.clock->advance_ms(60000);
  CHECK_FALSE(f.get("t").found);
  CHECK(reclaim(*f.driver, 10) == 1);
}

TEST_CASE("postgres: compare-and-set races between eight connections have "
          "exactly one winner per version",
          "[driver][postgres][concurrency]") {
  pg_fixture f;
  constexpr int threads = 8;
  constexpr int rounds = 25;
  std::vector<std::unique_ptr<drivers::kv_driver>> drivers;
  for (uint32_t i = 0; i < threads; ++i)
    drivers.push_back(f.factory(f.backend, i));

  struct win {
    uint64_t from;
    uint64_t to;
    std::string value;
  };
  std::mutex mutex;
  std::vector<win> wins;
  std::vector<std::string> unexpected;
  std::promise<void> go;
  std::shared_future<void> started = go.get_future().share();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& d = *drivers[t];
      auto call = [&](model::operation op) {
        auto p = std::make_shared<std::promise<model::outcome>>();
        auto fut = p->get_future();
        d.execute("ns", std::make_shared<const model::operation>(std::move(op)),
                  [p](model::outcome out) { p->set_value(std::move(out)); });
        if (fut.wait_for(deadline) != std::future_status::ready)
          return model::outcome::failure(
            status_code::deadline_exceeded,
            "no answer within the test's deadline");
        return fut.get();
      };
      auto record
        = [&](uint64_t from, const std::string& value, model::outcome out) {
            std::lock_guard<std::mutex> guard{mutex};
            if (out.status.ok())
              wins.push_back(
                {from, std::get<model::set_result>(out.value).version, value});
            else if (out.status.code != status_code::failed_precondition)
              unexpected.push_back(out.status.message);
          };
      started.wait();
      // Everyone creates the key at once: one of them may.
      const std::string first = "create by " + std::to_string(t);
      record(0, first, call(set_op("race", first, 0, uint64_t{0})));
      for (int r = 0; r < rounds; ++r) {
        auto seen = call(model::get_op{"race"});
        if (!seen.status.ok()) {
          std::lock_guard<std::mutex> guard{mutex};
          unexpected.push_back(seen.status.message);
          continue;
        }
        const uint64_t from = std::get<model::get_result>(seen.value).version;
        const std::string value = std::to_string(t) + "/" + std::to_string(r);
        record(from, value, call(set_op("race", value, 0, from)));
      }
    });
  }
  go.set_value();
  for (auto& w : workers)
    w.join();
  INFO("first unexpected failure: "
       << (unexpected.empty() ? "none" : unexpected.front()));
  CHECK(unexpected.empty());
  REQUIRE(wins.size() >= 2);
  std::sort(wins.begin(), wins.end(),
            [](const win& a, const win& b) { return a.to < b.to; });
  // Exactly one creation, and each later win replaced the version the one
  // before it wrote: no version was won twice or skipped.
  CHECK(wins[0].from == 0);
  std::set<uint64_t> froms;
  for (size_t i = 0; i < wins.size(); ++i) {
    CHECK(froms.insert(wins[i].from).second);
    if (i > 0)
      CHECK(wins[i].from == wins[i - 1].to);
  }
  auto final = f.get("race");
  CHECK(final.version == wins.back().to);
  CHECK(final.value == wins.back().value);
  // Failed attempts used up no versions.
  CHECK(f.set("after", "x") == wins.back().to + 1);
}

TEST_CASE("postgres: a connection the server ends answers connection_lost, "
          "and so does every job after it",
          "[driver][postgres]") {
  pg_fixture f;
  f.set("k", "before");
  auto admin = f.scope.admin();
  const std::string app = app_of(f.backend);
  REQUIRE(backend_pids(*admin, app).size() == 1);
  CHECK(admin
          ->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE application_name = "
                 + admin->quote(app))[0][0]
          .as<bool>());
  REQUIRE(eventually([&] { return backend_pids(*admin, app).empty(); }));

  auto out = f.run(set_op("k", "after"));
  INFO(out.status.message);
  CHECK(out.connection_lost);
  CHECK(out.status.code == status_code::unavailable);
  // libpq reports the server's goodbye or, when it finds the socket closed
  // first, just that.
  auto ended = [](const std::string& message) {
    return message.find("administrator command") != std::string::npos
      || message.find("closed the connection") != std::string::npos;
  };
  CHECK_THAT(out.status.message, Catch::Contains("lost the connection"));
  CHECK(ended(out.status.message));
  // Not applied: a lost outcome says so only when it cannot tell.
  CHECK(out.status.message.find("may or may not") == std::string::npos);
  auto again = f.run(model::get_op{"k"});
  CHECK(again.connection_lost);
  CHECK(ended(again.status.message));
  CHECK(reclaim(*f.driver, 10) == 0);

  // A new driver (what the supervisor makes) finds the data as it was.
  f.driver = f.factory(f.backend, 0);
  CHECK(f.get("k").value == "before");
}

TEST_CASE("postgres: a connection ended while its statement waits answers "
          "connection_lost and applies nothing",
          "[driver][postgres]") {
  pg_fixture f;
  const uint64_t before = f.set("k", "before");
  auto admin = f.scope.admin();
  const std::string app = app_of(f.backend);
  pqxx::work holder{admin->conn};
  holder.exec("SELECT 1 FROM " + f.scope.table("prism_kv")
              + " WHERE key = 'k'::bytea FOR UPDATE");
  pending write;
  start(*f.driver, write, set_op("k", "blocked"));
  auto other = f.scope.admin();
  REQUIRE(eventually([&] { return waits_for_lock(*other, app); }));
  other->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE application_name = "
              + other->quote(app));
  auto out = write.get();
  INFO(out.status.message);
  CHECK(out.connection_lost);
  CHECK(out.status.message.find("may or may not") == std::string::npos);
  holder.abort();
  f.driver = f.factory(f.backend, 0);
  CHECK(f.get("k").value == "before");
  CHECK(f.set("next", "x") == before + 1);
}

TEST_CASE("postgres: a write blocked by a row lock past its deadline answers "
          "DEADLINE_EXCEEDED and is not applied",
          "[driver][postgres]") {
  pg_fixture f;
  const uint64_t before = f.set("k", "before");
  auto admin = f.scope.admin();
  pqxx::work holder{admin->conn};
  holder.exec("SELECT 1 FROM " + f.scope.table("prism_kv")
              + " WHERE key = 'k'::bytea FOR UPDATE");
  const auto t0 = std::chrono::steady_clock::now();
  auto out = run_within(*f.driver, set_op("k", "during"), 300ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(out.status.message);
  CHECK(out.status.code == status_code::deadline_exceeded);
  CHECK_FALSE(out.connection_lost);
  CHECK_THAT(out.status.message, Catch::Contains("not applied"));
  CHECK(took >= 250ms);
  CHECK(took < 5s);
  // Compare-and-set waits on the same lock, and gives up alike.
  auto cas = run_within(*f.driver, set_op("k", "cas", 0, before), 300ms);
  CHECK(cas.status.code == status_code::deadline_exceeded);
  holder.abort();

  CHECK(f.get("k").value == "before");
  CHECK(f.get("k").version == before);
  // The cancelled writes used up no versions; the connection works on.
  CHECK(f.set("k", "after") == before + 1);
}

TEST_CASE("postgres: a read blocked by a table lock past its deadline answers "
          "DEADLINE_EXCEEDED, statement_timeout_ms ends a wait without one",
          "[driver][postgres]") {
  pg_fixture f;
  f.backend.postgres.statement_timeout_ms = 400;
  f.driver = f.factory(f.backend, 0);
  f.set("k", "v");
  auto admin = f.scope.admin();
  {
    pqxx::work holder{admin->conn};
    holder.exec("LOCK TABLE " + f.scope.table("prism_kv")
                + " IN ACCESS EXCLUSIVE MODE");
    auto read = run_within(*f.driver, model::get_op{"k"}, 200ms);
    INFO(read.status.message);
    CHECK(read.status.code == status_code::deadline_exceeded);
    auto scan = run_within(*f.driver, scan_op("", "", 10), 200ms);
    CHECK(scan.status.code == status_code::deadline_exceeded);

    // No deadline: the backend's statement_timeout_ms ends the wait.
    auto slow = f.run(model::get_op{"k"});
    INFO(slow.status.message);
    CHECK(slow.status.code == status_code::deadline_exceeded);
    CHECK_THAT(slow.status.message,
               Catch::Contains("statement_timeout_ms (400 ms)"));
    holder.abort();
  }
  CHECK(f.get("k").value == "v");
}

TEST_CASE("postgres: a batch failing on a later entry is rolled back whole",
          "[driver][postgres]") {
  pg_fixture f;
  const uint64_t before = f.set("keep", "old");
  auto admin = f.scope.admin();
  admin->exec("CREATE FUNCTION " + f.scope.table("reject_bad")
              + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.key = 'bad'::bytea THEN "
                "RAISE EXCEPTION 'rejected by test trigger'; END IF; "
                "RETURN NEW; END $$");
  admin->exec("CREATE TRIGGER reject_bad BEFORE INSERT OR UPDATE ON "
              + f.scope.table("prism_kv") + " FOR EACH ROW EXECUTE FUNCTION "
              + f.scope.table("reject_bad") + "()");
  model::batch_set_op op;
  op.entries = {{"keep", "new", 0}, {"fresh", "1", 0}, {"bad", "2", 0}};
  auto out = f.run(op);
  INFO(out.status.message);
  CHECK(out.status.code == status_code::internal);
  CHECK_THAT(out.status.message, Catch::Contains("rejected by test trigger"));
  CHECK_FALSE(out.connection_lost);
  CHECK(f.get("keep").value == "old");
  CHECK_FALSE(f.get("fresh").found);
  CHECK(f.set("next", "x") == before + 1);
}

TEST_CASE("postgres: a driver that cannot connect answers connection_lost "
          "with the reason, and its constructor does not wait",
          "[driver][postgres]") {
  pg_fixture f;
  const uint16_t port = closed_port();
  f.backend.postgres.dsn
    = f.scope.dsn({{"host", "127.0.0.1"}, {"port", std::to_string(port)}});
  f.driver = f.factory(f.backend, 0);
  auto out = f.run(model::get_op{"k"});
  INFO(out.status.message);
  CHECK(out.connection_lost);
  CHECK(out.status.code == status_code::unavailable);
  CHECK_THAT(out.status.message,
             Catch::Contains("cannot connect to PostgreSQL at")
               && Catch::Contains(std::to_string(port)));
  CHECK(f.run(set_op("k", "v")).connection_lost);

  // A server that takes the connection and never answers: the attempt ends
  // at connect_timeout_ms; jobs queued meanwhile wait for it.
  silent_listener silent;
  f.backend.postgres.dsn = f.scope.dsn(
    {{"host", "127.0.0.1"}, {"port", std::to_string(silent.port)}});
  f.backend.postgres.connect_timeout_ms = 1000;
  const auto t0 = std::chrono::steady_clock::now();
  f.driver = f.factory(f.backend, 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
  pending first;
  start(*f.driver, first, model::get_op{"k"});
  auto late = first.get();
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(late.status.message);
  CHECK(late.connection_lost);
  CHECK_THAT(late.status.message,
             Catch::Contains("no answer within connect_timeout_ms (1000 ms)"));
  CHECK(took >= 900ms);
  CHECK(took < 10s);

  // Destroyed while connecting: it stops at once and fails what it held.
  f.backend.postgres.connect_timeout_ms = 600000;
  f.driver = f.factory(f.backend, 0);
  pending queued;
  start(*f.driver, queued, set_op("k", "v"));
  const auto t1 = std::chrono::steady_clock::now();
  f.driver.reset();
  CHECK(std::chrono::steady_clock::now() - t1 < 5s);
  auto stopped = queued.get();
  CHECK(stopped.status.code == status_code::unavailable);
  CHECK(stopped.status.message == "driver shutting down");
  CHECK_FALSE(stopped.connection_lost);
}

TEST_CASE("postgres: destroying a driver cancels the statement it runs",
          "[driver][postgres]") {
  pg_fixture f;
  f.set("k", "before");
  auto admin = f.scope.admin();
  pqxx::work holder{admin->conn};
  holder.exec("SELECT 1 FROM " + f.scope.table("prism_kv")
              + " WHERE key = 'k'::bytea FOR UPDATE");
  pending write;
  start(*f.driver, write, set_op("k", "blocked"));
  auto other = f.scope.admin();
  REQUIRE(
    eventually([&] { return waits_for_lock(*other, app_of(f.backend)); }));
  const auto t0 = std::chrono::steady_clock::now();
  f.driver.reset();
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  auto out = write.get();
  INFO(out.status.message);
  CHECK(out.status.code == status_code::unavailable);
  CHECK_THAT(out.status.message,
             Catch::StartsWith("driver shutting down")
               && Catch::Contains("not applied"));
  holder.abort();
  f.driver = f.factory(f.backend, 0);
  CHECK(f.get("k").value == "before");
}

/// A role that must log in with a password, and may use the test's schema.
struct pg_role {
  pg_scope& scope;
  std::string name;
  std::string password;
  pg_role(pg_scope& s, std::string secret)
    : scope(s), name(s.schema + "_user"), password(std::move(secret)) {
    auto admin = scope.admin();
    admin->exec("DROP ROLE IF EXISTS " + name);
    admin->exec("CREATE ROLE " + name + " LOGIN PASSWORD "
                + admin->quote(password));
    admin->exec("GRANT USAGE, CREATE ON SCHEMA " + scope.schema + " TO "
                + name);
    admin->exec("GRANT ALL ON ALL TABLES IN SCHEMA " + scope.schema + " TO "
                + name);
  }
  ~pg_role() {
    try {
      auto admin = scope.admin();
      admin->exec("DROP OWNED BY " + name + " CASCADE");
      admin->exec("DROP ROLE IF EXISTS " + name);
    } catch (...) {
    }
  }
};

/// Sets an environment variable for the length of a scope.
struct scoped_env {
  std::string name;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() { ::unsetenv(name.c_str()); }
};

TEST_CASE("postgres: the password comes from password_env or password_file "
          "and never shows in a message",
          "[driver][postgres]") {
  pg_fixture f;
  // Quotes, a backslash and a space: the connection string must carry them.
  const std::string password
    = "pw ' \\ " + std::to_string(::getpid()) + "-S3cret-"
    + std::to_string(
        std::chrono::steady_clock::now().time_since_epoch().count());
  // The tables exist (made by the fixture's driver as the superuser) before
  // the role is let use them.
  f.set("made", "by prism");
  pg_role role{f.scope, password};
  const std::string env_name = "PRISM_TEST_PG_PASSWORD_" + f.scope.schema;
  scoped_env env{env_name, password};
  auto backend = f.backend;
  backend.postgres.dsn = f.scope.dsn({{"user", role.name}});
  backend.postgres.password_env = env_name;

  SECTION("from the environment") {
    auto d = f.factory(backend, 0);
    CHECK(ok<model::set_result>(run(*d, "pw", set_op("k", "v"))).version == 1);
    CHECK(ok<model::get_result>(run(*d, "pw", model::get_op{"k"})).value
          == "v");
  }
  SECTION("from a file, first line only") {
    temp_dir dir;
    const auto file = dir.path / "password";
    { std::ofstream{file} << password << "\nignored second line\n"; }
    backend.postgres.password_env.clear();
    backend.postgres.password_file = file.string();
    auto d = f.factory(backend, 0);
    CHECK(ok<model::set_result>(run(*d, "pw", set_op("k", "v"))).version == 1);
  }
  SECTION("a wrong password is refused without showing it") {
    const std::string wrong = "wrong-" + password;
    scoped_env bad{env_name, wrong};
    auto d = f.factory(backend, 0);
    auto out = run(*d, "ns", model::get_op{"k"});
    INFO(out.status.message);
    CHECK(out.connection_lost);
    CHECK_THAT(out.status.message,
               Catch::Contains("password authentication failed"));
    CHECK(out.status.message.find("S3cret") == std::string::npos);
  }
  SECTION("a wrong port: the message names the server, not the password") {
    backend.postgres.dsn = f.scope.dsn(
      {{"user", role.name}, {"port", std::to_string(closed_port())}});
    auto d = f.factory(backend, 0);
    auto out = run(*d, "ns", model::get_op{"k"});
    INFO(out.status.message);
    CHECK(out.connection_lost);
    CHECK_THAT(out.status.message, Catch::Contains(role.name + "@"));
    CHECK(out.status.message.find("S3cret") == std::string::npos);
    CHECK(d->describe().find("S3cret") == std::string::npos);
  }
  SECTION("a password written into the dsn is masked too") {
    backend.postgres.password_env.clear();
    backend.postgres.dsn
      = f.scope.dsn({{"user", role.name},
                     {"password", password},
                     {"port", std::to_string(closed_port())}});
    auto d = f.factory(backend, 0);
    auto out = run(*d, "ns", model::get_op{"k"});
    INFO(out.status.message);
    CHECK(out.connection_lost);
    CHECK(out.status.message.find("S3cret") == std::string::npos);
    CHECK(d->describe().find("S3cret") == std::string::npos);
  }
  SECTION("an unset variable or a missing file fails at once, naming it") {
    backend.postgres.password_env = env_name + "_UNSET";
    CHECK_THROWS_WITH(f.factory(backend, 0),
                      Catch::Contains(env_name + "_UNSET")
                        && Catch::Contains("is not set"));
    backend.postgres.password_env.clear();
    backend.postgres.password_file = "/nonexistent/prism-password";
    CHECK_THROWS_WITH(f.factory(backend, 0),
                      Catch::Contains("/nonexistent/prism-password"));
  }
}

TEST_CASE("postgres: a connection past max_lifetime_ms is replaced between "
          "jobs without a failure",
          "[driver][postgres]") {
  pg_fixture f;
  f.backend.postgres.max_lifetime_ms = 200;
  f.driver = f.factory(f.backend, 0);
  f.set("k", "v");
  auto admin = f.scope.admin();
  const std::string app = app_of(f.backend);
  const auto first = backend_pids(*admin, app);
  REQUIRE(first.size() == 1);
  int jobs = 0;
  CHECK(eventually([&] {
    ++jobs;
    CHECK(f.get("k").value == "v");
    auto now = backend_pids(*admin, app);
    return now.size() == 1 && now[0] != first[0];
  }));
  INFO(jobs << " jobs");
  CHECK(f.set("k", "w") == 2);
}

TEST_CASE("postgres: a connection idle for idle_timeout_ms is closed and the "
          "next job connects again",
          "[driver][postgres]") {
  pg_fixture f;
  f.backend.postgres.idle_timeout_ms = 200;
  f.driver = f.factory(f.backend, 0);
  f.set("k", "v");
  auto admin = f.scope.admin();
  const std::string app = app_of(f.backend);
  const auto first = backend_pids(*admin, app);
  REQUIRE(first.size() == 1);
  // A reclaim round neither counts as use nor reconnects.
  CHECK(eventually([&] {
    reclaim(*f.driver, 10);
    return backend_pids(*admin, app).empty();
  }));
  CHECK(f.get("k").value == "v");
  const auto again = backend_pids(*admin, app);
  REQUIRE(again.size() == 1);
  CHECK(again[0] != first[0]);
}

} // namespace
