// prism-pg-direct: the PostgreSQL work of Prism's Get or Set without Prism.
//
// N threads, each with its own libpqxx connection, run the statements the
// postgres driver (src/drivers/postgres/) runs for one
// Get or one Set, in the same shape. A Get is the prepared statement alone,
// in autocommit: the driver fits the session's statement_timeout to the
// call's deadline and sets it again only when it no longer fits, so with
// `prism bench`'s 10 s deadlines its sessions settle on 9950 ms, which this
// client sets once per connection. A Set is a transaction opened together
// with the deadline's statement_timeout in one round trip, the prepared
// statement, COMMIT. Prints one JSON line: {"rpc", "connections",
// "requests", "seconds", "rps", "p50_us", "p99_us"}.
//
// The statement texts (pg_statements.hpp) are those of the driver's "get"
// and "set".

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "pg_statements.hpp"

namespace {

using steady = std::chrono::steady_clock;

/// What `prism bench` allows each call; the driver turns what is left of it
/// into the transaction's statement_timeout.
constexpr int64_t call_deadline_ms = 10000;
/// The session statement_timeout the driver settles on for reads with that
/// deadline (what is left, rounded down to 50 ms).
constexpr int64_t session_statement_timeout_ms = call_deadline_ms - 50;

struct options {
  std::string dsn;
  std::string rpc = "get";
  std::string ns = "bench";
  unsigned connections = 4;
  double duration_s = 5;
  double warmup_s = 1;
  unsigned keys = 1000;
  unsigned value_bytes = 100;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr
    << "prism-pg-direct: " << problem << "\n"
    << "usage: prism-pg-direct --dsn DSN [--rpc get|set] [--namespace NS]\n"
    << "         [--connections N] [--duration S] [--warmup S] [--keys N]\n"
    << "         [--value-bytes B]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc)
      usage(arg + " needs a value");
    std::string value = argv[++i];
    try {
      if (arg == "--dsn")
        o.dsn = value;
      else if (arg == "--rpc")
        o.rpc = value;
      else if (arg == "--namespace")
        o.ns = value;
      else if (arg == "--connections")
        o.connections = static_cast<unsigned>(std::stoul(value));
      else if (arg == "--duration")
        o.duration_s = std::stod(value);
      else if (arg == "--warmup")
        o.warmup_s = std::stod(value);
      else if (arg == "--keys")
        o.keys = static_cast<unsigned>(std::stoul(value));
      else if (arg == "--value-bytes")
        o.value_bytes = static_cast<unsigned>(std::stoul(value));
      else
        usage("unknown argument " + arg);
    } catch (const std::logic_error&) {
      usage("bad value for " + arg + ": " + value);
    }
  }
  if (o.dsn.empty())
    usage("--dsn is required");
  if (o.rpc != "get" && o.rpc != "set")
    usage("--rpc is get or set");
  if (o.connections == 0 || o.keys == 0)
    usage("--connections and --keys must be at least 1");
  return o;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// One connection set up as the driver sets up its own.
std::unique_ptr<pqxx::connection> connect(const options& o) {
  auto conn = std::make_unique<pqxx::connection>(o.dsn);
  pqxx::nontransaction tx{*conn};
  tx.exec("SET client_min_messages = warning; SET statement_timeout = "
          + std::to_string(session_statement_timeout_ms));
  conn->prepare("get", prism::bench_sql::get);
  conn->prepare("set", prism::bench_sql::set);
  return conn;
}

/// One call as the driver makes it: a Get in autocommit under the session's
/// statement_timeout; a Set as BEGIN with the deadline's timeout, the
/// statement, COMMIT.
void one_call(pqxx::connection& conn, const options& o, const std::string& key,
              const std::string& value) {
  pqxx::nontransaction tx{conn};
  if (o.rpc == "get") {
    auto rows
      = tx.exec_prepared("get", o.ns, pqxx::binarystring{key}, wall_ms());
    if (rows.empty())
      throw std::runtime_error("key " + key + " not found");
    return;
  }
  const auto deadline
    = steady::now() + std::chrono::milliseconds(call_deadline_ms);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - steady::now())
                      .count();
  tx.exec("BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL statement_timeout = "
          + std::to_string(left));
  tx.exec_prepared("set", o.ns, pqxx::binarystring{key},
                   pqxx::binarystring{value}, int64_t{0});
  tx.exec("COMMIT");
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const std::string value(o.value_bytes, 'v');
  try {
    // The keyspace, written once so every Get finds its key.
    auto setup = connect(o);
    {
      pqxx::nontransaction tx{*setup};
      tx.exec(prism::bench_sql::schema);
    }
    // Gets need their keys; a keyspace written before (by an earlier run or
    // by `prism bench`) is used as it is.
    uint64_t present = 0;
    {
      pqxx::nontransaction tx{*setup};
      present
        = tx.exec_params("SELECT count(*) FROM prism_kv WHERE ns = $1", o.ns)
            .at(0)
            .at(0)
            .as<uint64_t>();
    }
    options writer = o;
    writer.rpc = "set";
    if (o.rpc == "get" && present < o.keys)
      for (unsigned k = 0; k < o.keys; ++k)
        one_call(*setup, writer, "bench-" + std::to_string(k), value);
  } catch (const std::exception& e) {
    std::cerr << "prism-pg-direct: setup failed: " << e.what() << "\n";
    return 1;
  }

  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<uint32_t>> latencies(o.connections);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < o.connections; ++t)
    threads.emplace_back([&, t] {
      try {
        auto conn = connect(o);
        std::mt19937 random{t + 1};
        std::uniform_int_distribution<unsigned> pick{0, o.keys - 1};
        auto& mine = latencies[t];
        mine.reserve(1 << 20);
        while (!stop.load(std::memory_order_relaxed)) {
          const auto key = "bench-" + std::to_string(pick(random));
          const auto start = steady::now();
          one_call(*conn, o, key, value);
          const auto took
            = std::chrono::duration_cast<std::chrono::microseconds>(
                steady::now() - start)
                .count();
          if (measuring.load(std::memory_order_relaxed))
            mine.push_back(static_cast<uint32_t>(took));
        }
      } catch (const std::exception& e) {
        std::cerr << "prism-pg-direct: connection " << t << ": " << e.what()
                  << "\n";
        failed.store(true);
      }
    });

  auto ms = [](double s) {
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
  };
  std::this_thread::sleep_for(ms(o.warmup_s)); // the warmup's length, by design
  measuring.store(true);
  const auto window_start = steady::now();
  std::this_thread::sleep_for(ms(o.duration_s)); // the measured window
  measuring.store(false);
  const double seconds
    = std::chrono::duration<double>(steady::now() - window_start).count();
  stop.store(true);
  for (auto& th : threads)
    th.join();
  if (failed.load())
    return 1;

  std::vector<uint32_t> all;
  for (const auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  if (all.empty()) {
    std::cerr << "prism-pg-direct: no call completed in the window\n";
    return 1;
  }
  std::sort(all.begin(), all.end());
  auto quantile = [&](double q) {
    auto i = static_cast<size_t>(q * static_cast<double>(all.size() - 1));
    return all[i];
  };
  std::cout << "{\"rpc\":\"" << o.rpc << "\",\"connections\":" << o.connections
            << ",\"requests\":" << all.size() << ",\"seconds\":" << seconds
            << ",\"rps\":" << static_cast<double>(all.size()) / seconds
            << ",\"p50_us\":" << quantile(0.5)
            << ",\"p99_us\":" << quantile(0.99) << "}" << std::endl;
  return 0;
}
