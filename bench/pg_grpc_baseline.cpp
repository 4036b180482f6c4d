// prism-pg-grpc-baseline: the KeyValue service on PostgreSQL without the
// gateway.
//
// A plain asynchronous gRPC server of prism.v1.KeyValue that answers Get and
// Set with the statements of Prism's postgres driver (pg_statements.hpp), in
// the driver's shapes, the way one would write such a server without actors
// or middleware:
//
// - gRPC's completion-queue API: completion queues, one thread polling each
//   (--cq-threads; default one per two cores: on two cores shared with
//   PostgreSQL and the load generator one thread gave 10-30 % more Gets a
//   second than two, at 15-20 % less CPU per call, since gRPC lets one
//   thread at a time poll and the second only waited to take over); each
//   queue has a fixed set of call slots per method, armed at start and
//   re-armed when their answer is sent, which reuse their request and
//   answer messages (and the strings in them);
// - a fixed pool of --connections threads, each owning one libpqxx
//   connection with the statements prepared once; a call's slot goes from
//   the completion-queue thread that received it to the first free
//   connection through one queue (a mutex, a condition variable and a ring
//   as long as there are slots, so handing a call over allocates nothing);
// - the connection's thread runs the statements and answers with Finish.
//
// What runs on PostgreSQL is what the driver runs (see bench/pg_direct.cpp):
// a Get is the prepared "get" alone, in autocommit, after the session's
// statement_timeout is fitted to the call's deadline as the driver fits it
// (with `prism bench`'s 10 s deadlines it settles once on 9950 ms); a Set is
// `BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL statement_timeout = <ms
// left>` in one round trip, the prepared "set" (which takes the namespace's
// next version), COMMIT; a Set with if_version is the driver's
// compare-and-set ("reserve", "current", "put"). Requests are checked as the
// gateway checks them (non-empty namespace and key, key at most 4 KiB, value
// at most 4 MiB). The other KeyValue methods answer UNIMPLEMENTED. Any
// namespace is served: there is no config.
//
// The schema: it creates the driver's tables itself at start (CREATE ... IF
// NOT EXISTS under the driver's advisory lock), so it does not depend on
// the order in which the benchmark starts it and the gateway.
//
//   prism-pg-grpc-baseline --dsn postgresql://... --connections 4
//                          --listen 127.0.0.1:0 --ready-file /tmp/pgbase.json
//
// Once listening it writes {"grpc_port": N} to the ready file (temp file +
// rename). SIGTERM or SIGINT stop it with exit status 0; it exits 1 when it
// cannot connect or listen, 2 for bad arguments.

#include "frontend/grpc_tuning.hpp"
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "pg_statements.hpp"
#include "prism/v1/keyvalue.grpc.pb.h"

namespace {

namespace pb = prism::v1;
namespace sql = prism::bench_sql;
using system_clock = std::chrono::system_clock;

// The gateway's limits (src/config/defaults.hpp), repeated so that this
// program does not link the gateway's libraries.
constexpr uint64_t key_bytes_max = 4096;
constexpr uint64_t value_bytes_max = 4 * 1024 * 1024;
constexpr uint64_t message_overhead_bytes = 1024 * 1024;

/// Get and Set slots per completion queue: calls a queue can take in before
/// gRPC has to hold one back until a slot is free again.
constexpr size_t slots_per_method = 64;

struct options {
  std::string listen = "127.0.0.1:0";
  std::string dsn;
  unsigned connections = 4;
  unsigned cq_threads = 0; // 0: one per two cores
  std::string ready_file;
};

// --- the statements on one connection ----------------------------------------

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           system_clock::now().time_since_epoch())
    .count();
}

int64_t expiry_for(int64_t now_ms, uint64_t ttl_ms) {
  if (ttl_ms == 0)
    return 0;
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  if (now_ms < 0)
    now_ms = 0;
  if (ttl_ms >= static_cast<uint64_t>(max - now_ms))
    return max;
  return now_ms + static_cast<int64_t>(ttl_ms);
}

void append_number(std::string& out, int64_t n) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

grpc::Status invalid(const char* message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, message};
}

/// The call's deadline in ms from now as the driver uses it: -1 when there is
/// none shorter than the driver's own statement_timeout; 0 when it passed.
int64_t deadline_limit(const grpc::ServerContext& ctx) {
  const auto deadline = ctx.deadline();
  if (deadline == system_clock::time_point::max())
    return -1;
  const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                         deadline - system_clock::now())
                         .count();
  if (left <= 0)
    return 0;
  return left < sql::default_statement_timeout_ms ? left : -1;
}

/// One libpqxx connection, set up as the driver sets up its own, and the
/// one nontransaction every statement runs in (the Set's transaction is
/// BEGIN ... COMMIT sent by hand, as the driver does).
class session {
public:
  explicit session(const std::string& dsn) : dsn_(dsn) { open(); }

  grpc::Status get(const grpc::ServerContext& ctx, const pb::GetRequest& req,
                   pb::GetResponse& resp) {
    if (req.namespace_().empty())
      return invalid("namespace is empty");
    if (auto bad = check_key(req.key()))
      return *bad;
    const int64_t limit = deadline_limit(ctx);
    if (limit == 0)
      return {grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed"};
    return guarded([&] {
      if (const int64_t value
          = sql::session_timeout_to_set(timeout_ms_, limit)) {
        sql_.assign("SET statement_timeout = ");
        append_number(sql_, value);
        tx_->exec(sql_);
        timeout_ms_ = value;
      }
      auto rows = tx_->exec_prepared(get_name, req.namespace_(),
                                     pqxx::binarystring{req.key()}, wall_ms());
      if (!rows.empty()) {
        const pqxx::binarystring value{rows[0][0]};
        resp.set_found(true);
        resp.mutable_value()->assign(value.get(), value.size());
        resp.set_version(rows[0][1].as<uint64_t>());
      }
      return grpc::Status::OK;
    });
  }

  grpc::Status set(const grpc::ServerContext& ctx, const pb::SetRequest& req,
                   pb::SetResponse& resp) {
    if (req.namespace_().empty())
      return invalid("namespace is empty");
    if (auto bad = check_key(req.key()))
      return *bad;
    if (req.value().size() > value_bytes_max)
      return invalid("value is larger than 4194304 bytes");
    const int64_t limit = deadline_limit(ctx);
    if (limit == 0)
      return {grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed"};
    return guarded([&] {
      const int64_t now = wall_ms();
      const int64_t expires_at = expiry_for(now, req.ttl_ms());
      sql_.assign("BEGIN ISOLATION LEVEL READ COMMITTED");
      if (limit > 0 || timeout_ms_ != sql::default_statement_timeout_ms) {
        sql_.append("; SET LOCAL statement_timeout = ");
        append_number(sql_,
                      limit > 0 ? limit : sql::default_statement_timeout_ms);
      }
      tx_->exec(sql_);
      in_transaction_ = true;
      const pqxx::binarystring key{req.key()};
      const pqxx::binarystring value{req.value()};
      if (!req.has_if_version()) {
        auto rows = tx_->exec_prepared(set_name, req.namespace_(), key, value,
                                       expires_at);
        resp.set_version(rows.at(0).at(0).as<uint64_t>());
        commit();
        return grpc::Status::OK;
      }
      // Compare-and-set, as the driver does it: the namespace's next
      // version first (which locks its counter row), then the key's row.
      const auto version
        = tx_->exec_prepared(reserve_name, req.namespace_(), int64_t{1})
            .at(0)
            .at(0)
            .as<int64_t>();
      std::optional<uint64_t> current;
      auto rows = tx_->exec_prepared(current_name, req.namespace_(), key);
      if (!rows.empty()) {
        const auto expiry = rows[0][1].as<int64_t>();
        if (expiry == 0 || expiry > now)
          current = rows[0][0].as<uint64_t>();
      }
      const bool match = req.if_version() == 0 ? !current.has_value()
                                               : current == req.if_version();
      if (!match) {
        rollback();
        return grpc::Status{grpc::StatusCode::FAILED_PRECONDITION,
                            current ? "version mismatch: current "
                                + std::to_string(*current)
                                    : std::string{"version mismatch: absent"}};
      }
      tx_->exec_prepared(put_name, req.namespace_(), key, value, version,
                         expires_at);
      commit();
      resp.set_version(static_cast<uint64_t>(version));
      return grpc::Status::OK;
    });
  }

private:
  static std::optional<grpc::Status> check_key(const std::string& key) {
    if (key.empty())
      return invalid("key is empty");
    if (key.size() > key_bytes_max)
      return invalid("key is longer than 4096 bytes");
    return std::nullopt;
  }

  void open() {
    tx_.reset();
    conn_.reset();
    conn_ = std::make_unique<pqxx::connection>(dsn_);
    conn_->prepare(get_name, sql::get);
    conn_->prepare(set_name, sql::set);
    conn_->prepare(reserve_name, sql::reserve);
    conn_->prepare(current_name, sql::current);
    conn_->prepare(put_name, sql::put);
    tx_.emplace(*conn_);
    sql_.assign("SET client_min_messages = warning; SET statement_timeout = ");
    append_number(sql_, sql::default_statement_timeout_ms);
    tx_->exec(sql_);
    timeout_ms_ = sql::default_statement_timeout_ms;
    in_transaction_ = false;
  }

  void commit() {
    tx_->exec(commit_sql);
    in_transaction_ = false;
  }

  void rollback() {
    tx_->exec(rollback_sql);
    in_transaction_ = false;
  }

  /// Runs `body`; a failure rolls back an open transaction and answers an
  /// error status (a broken connection is opened again for the next call).
  template <class Body>
  grpc::Status guarded(Body&& body) {
    if (!tx_) {
      reopen();
      if (!tx_)
        return {grpc::StatusCode::UNAVAILABLE, "no connection to PostgreSQL"};
    }
    try {
      return body();
    } catch (const pqxx::broken_connection& e) {
      reopen();
      return {grpc::StatusCode::UNAVAILABLE, e.what()};
    } catch (const pqxx::sql_error& e) {
      recover();
      const bool timeout = e.sqlstate() == "57014";
      return {timeout ? grpc::StatusCode::DEADLINE_EXCEEDED
                      : grpc::StatusCode::INTERNAL,
              e.what()};
    } catch (const std::exception& e) {
      recover();
      return {grpc::StatusCode::INTERNAL, e.what()};
    }
  }

  /// After a failed statement: a fresh nontransaction, the transaction
  /// rolled back.
  void recover() {
    if (!conn_)
      return;
    try {
      tx_.reset();
      tx_.emplace(*conn_);
      if (in_transaction_)
        rollback();
    } catch (const std::exception&) {
      reopen();
    }
  }

  /// A new connection, or none (the next call tries again).
  void reopen() noexcept {
    try {
      open();
    } catch (const std::exception& e) {
      std::cerr << "prism-pg-grpc-baseline: cannot connect again: " << e.what()
                << "\n";
      tx_.reset();
      conn_.reset();
    }
  }

  static inline const std::string get_name = "get";
  static inline const std::string set_name = "set";
  static inline const std::string reserve_name = "reserve";
  static inline const std::string current_name = "current";
  static inline const std::string put_name = "put";
  static inline const std::string commit_sql = "COMMIT";
  static inline const std::string rollback_sql = "ROLLBACK";

  std::string dsn_;
  std::unique_ptr<pqxx::connection> conn_;
  std::optional<pqxx::nontransaction> tx_;
  /// The session's statement_timeout.
  int64_t timeout_ms_ = 0;
  bool in_transaction_ = false;
  /// The text of the statements built per call, reused.
  std::string sql_;
};

// --- calls ------------------------------------------------------------------

/// What every tag on a completion queue points to.
class event {
public:
  virtual ~event() = default;
  virtual void proceed(bool ok) = 0;
};

/// A call that waits for a connection.
class db_call {
public:
  /// Runs on the connection's thread and answers with Finish.
  virtual void run(session& s) = 0;

protected:
  ~db_call() = default;
};

/// Calls waiting for a connection, first in, first out. Its ring holds as
/// many calls as there are slots, so pushing never allocates.
class work_queue {
public:
  explicit work_queue(size_t capacity) : ring_(capacity) {}

  void push(db_call* call) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      ring_[(head_ + size_) % ring_.size()] = call;
      ++size_;
    }
    ready_.notify_one();
  }

  /// The next call, or nullptr once closed.
  db_call* pop() {
    std::unique_lock<std::mutex> lock{mutex_};
    ready_.wait(lock, [this] { return size_ > 0 || closed_; });
    if (size_ == 0)
      return nullptr;
    db_call* call = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return call;
  }

  void close() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      closed_ = true;
    }
    ready_.notify_all();
  }

private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<db_call*> ring_;
  size_t head_ = 0;
  size_t size_ = 0;
  bool closed_ = false;
};

struct server_state {
  pb::KeyValue::AsyncService service;
  work_queue* queue = nullptr;
  std::atomic<bool> stopping{false};
};

/// One call slot of a method on one completion queue: armed (gRPC fills it
/// with the next call), then answered, then armed again. The messages live as
/// long as the slot; the server context and the responder are made anew per
/// call, in place.
template <class Request, class Response>
class unary_slot : public event, public db_call {
public:
  using request_method = void (pb::KeyValue::AsyncService::*)(
    grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
    grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  using handler = grpc::Status (session::*)(const grpc::ServerContext&,
                                            const Request&, Response&);

  /// `handle` null: the method answers UNIMPLEMENTED.
  unary_slot(server_state& state, grpc::ServerCompletionQueue* cq,
             request_method request, handler handle)
    : state_(state), cq_(cq), request_(request), handle_(handle) {}

  void arm() {
    responder_.reset();
    ctx_.emplace();
    responder_.emplace(&*ctx_);
    answering_ = false;
    (state_.service.*request_)(&*ctx_, &request_msg_, &*responder_, cq_, cq_,
                               this);
  }

  void proceed(bool ok) override {
    if (!answering_) {
      if (!ok) // the server is shutting down
        return;
      answering_ = true;
      if (handle_ == nullptr)
        responder_->FinishWithError(
          {grpc::StatusCode::UNIMPLEMENTED, "not served by this baseline"},
          this);
      else
        state_.queue->push(this);
      return;
    }
    // The answer is sent (or the call was cancelled): the next call.
    if (!state_.stopping.load(std::memory_order_relaxed))
      arm();
  }

  void run(session& s) override {
    response_msg_.Clear();
    const grpc::Status status
      = (s.*handle_)(*ctx_, request_msg_, response_msg_);
    if (status.ok())
      responder_->Finish(response_msg_, status, this);
    else
      responder_->FinishWithError(status, this);
  }

private:
  server_state& state_;
  grpc::ServerCompletionQueue* cq_;
  request_method request_;
  handler handle_;
  bool answering_ = false;
  Request request_msg_;
  Response response_msg_;
  std::optional<grpc::ServerContext> ctx_;
  std::optional<grpc::ServerAsyncResponseWriter<Response>> responder_;
};

using service_type = pb::KeyValue::AsyncService;

/// Makes and arms `count` slots of one method on `cq`.
template <class Request, class Response>
void add_slots(std::vector<std::unique_ptr<event>>& slots, server_state& state,
               grpc::ServerCompletionQueue* cq, size_t count,
               typename unary_slot<Request, Response>::request_method request,
               typename unary_slot<Request, Response>::handler handle) {
  for (size_t i = 0; i < count; ++i) {
    auto slot = std::make_unique<unary_slot<Request, Response>>(
      state, cq, request, handle);
    slot->arm();
    slots.push_back(std::move(slot));
  }
}

// --- start-up ---------------------------------------------------------------

bool write_ready_file(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << "{\"grpc_port\": " << port << "}\n";
    out.flush();
    if (!out)
      return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

void usage(std::ostream& out) {
  out
    << "Usage: prism-pg-grpc-baseline --dsn DSN [--connections N]\n"
       "         [--listen HOST:PORT] [--cq-threads N] [--ready-file PATH]\n"
       "\n"
       "prism.v1.KeyValue's Get and Set on PostgreSQL without the gateway: a\n"
       "plain asynchronous gRPC server running the postgres driver's\n"
       "statements on N libpqxx connections. Other methods answer\n"
       "UNIMPLEMENTED.\n"
       "\n"
       "  --dsn DSN            libpq connection string or URI (required)\n"
       "  --connections N      PostgreSQL connections, one thread each\n"
       "                       (default 4)\n"
       "  --listen HOST:PORT   address to serve gRPC on; port 0 picks a free\n"
       "                       port (default 127.0.0.1:0)\n"
       "  --cq-threads N       completion queues, one thread each (default:\n"
       "                       one per two cores)\n"
       "  --ready-file PATH    once listening, write {\"grpc_port\": N} there\n"
       "  -h, --help           print this help\n"
       "\n"
       "SIGTERM or SIGINT stop it with exit status 0.\n";
}

[[noreturn]] void bad_usage(const std::string& problem) {
  std::cerr << "prism-pg-grpc-baseline: " << problem << "\n"
            << "Run 'prism-pg-grpc-baseline --help' for the options.\n";
  std::exit(2);
}

unsigned positive(const std::string& flag, const std::string& value) {
  unsigned n = 0;
  auto [end, error]
    = std::from_chars(value.data(), value.data() + value.size(), n);
  if (error != std::errc{} || end != value.data() + value.size() || n == 0)
    bad_usage(flag + ": expected a whole number >= 1, got '" + value + "'");
  return n;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      std::exit(0);
    }
    std::string flag = arg;
    std::string value;
    if (auto eq = arg.find('=');
        arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (flag == "--listen" || flag == "--dsn" || flag == "--connections"
               || flag == "--cq-threads" || flag == "--ready-file") {
      if (i + 1 >= argc)
        bad_usage(flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "--listen") {
      if (value.rfind(':') == std::string::npos)
        bad_usage("--listen: expected HOST:PORT, got '" + value + "'");
      o.listen = value;
    } else if (flag == "--dsn") {
      if (value.empty())
        bad_usage("--dsn: expected a connection string, got ''");
      o.dsn = value;
    } else if (flag == "--connections") {
      o.connections = positive(flag, value);
    } else if (flag == "--cq-threads") {
      o.cq_threads = positive(flag, value);
    } else if (flag == "--ready-file") {
      o.ready_file = value;
    } else {
      bad_usage("unknown argument '" + arg + "'");
    }
  }
  if (o.dsn.empty())
    bad_usage("--dsn is required");
  if (o.cq_threads == 0)
    o.cq_threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  return o;
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  prism::frontend::tune_grpc_runtime();

  // Every connection is open, and the schema there, before the port is.
  std::vector<std::unique_ptr<session>> sessions;
  try {
    {
      pqxx::connection setup{o.dsn};
      pqxx::nontransaction tx{setup};
      tx.exec(sql::schema);
    }
    for (unsigned i = 0; i < o.connections; ++i)
      sessions.push_back(std::make_unique<session>(o.dsn));
  } catch (const std::exception& e) {
    std::cerr << "prism-pg-grpc-baseline: cannot set up PostgreSQL: "
              << e.what() << "\n";
    return 1;
  }

  // Block the stop signals before any thread starts, so that only the
  // waiting loop below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  server_state state;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(
    static_cast<int>(value_bytes_max + message_overhead_bytes));
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&state.service);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  for (unsigned i = 0; i < o.cq_threads; ++i)
    queues.push_back(builder.AddCompletionQueue());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "prism-pg-grpc-baseline: cannot listen on " << o.listen
              << "\n";
    return 1;
  }

  work_queue queue{2 * slots_per_method * queues.size()};
  state.queue = &queue;
  std::vector<std::unique_ptr<event>> slots;
  for (auto& cq : queues) {
    using namespace pb;
    add_slots<GetRequest, GetResponse>(slots, state, cq.get(), slots_per_method,
                                       &service_type::RequestGet,
                                       &session::get);
    add_slots<SetRequest, SetResponse>(slots, state, cq.get(), slots_per_method,
                                       &service_type::RequestSet,
                                       &session::set);
    add_slots<DeleteRequest, DeleteResponse>(
      slots, state, cq.get(), 1, &service_type::RequestDelete, nullptr);
    add_slots<ExistsRequest, ExistsResponse>(
      slots, state, cq.get(), 1, &service_type::RequestExists, nullptr);
    add_slots<BatchGetRequest, BatchGetResponse>(
      slots, state, cq.get(), 1, &service_type::RequestBatchGet, nullptr);
    add_slots<BatchSetRequest, BatchSetResponse>(
      slots, state, cq.get(), 1, &service_type::RequestBatchSet, nullptr);
    add_slots<BatchDeleteRequest, BatchDeleteResponse>(
      slots, state, cq.get(), 1, &service_type::RequestBatchDelete, nullptr);
    add_slots<ScanRequest, ScanResponse>(slots, state, cq.get(), 1,
                                         &service_type::RequestScan, nullptr);
  }

  std::vector<std::thread> workers;
  for (auto& s : sessions)
    workers.emplace_back([&queue, &s] {
      while (db_call* call = queue.pop())
        call->run(*s);
    });
  std::vector<std::thread> pollers;
  for (auto& cq : queues)
    pollers.emplace_back([cq = cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok))
        static_cast<event*>(tag)->proceed(ok);
    });

  std::cerr << "prism-pg-grpc-baseline: listening on port " << port << " ("
            << o.connections << " connections, " << o.cq_threads
            << " completion queues)\n";
  int status = 0;
  if (!o.ready_file.empty() && !write_ready_file(o.ready_file, port)) {
    std::cerr << "prism-pg-grpc-baseline: cannot write " << o.ready_file << ": "
              << std::strerror(errno) << "\n";
    status = 1;
  } else {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cerr << "prism-pg-grpc-baseline: "
              << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
              << ", stopping\n";
  }

  // Calls in flight finish (the connections keep running until then), then
  // the connections stop, then the queues drain.
  state.stopping.store(true);
  server->Shutdown(system_clock::now() + std::chrono::seconds{2});
  queue.close();
  for (auto& t : workers)
    t.join();
  for (auto& cq : queues)
    cq->Shutdown();
  for (auto& t : pollers)
    t.join();
  slots.clear();
  server.reset();
  return status;
}
