// prism-baseline: the prism.v1.KeyValue service without the gateway.
//
// A plain gRPC callback-API server over an in-memory map per namespace, each
// guarded by a mutex, every RPC finished inline on gRPC's own thread. The
// benchmark (scripts/bench) runs it beside the gateway to tell how much the
// gateway's actors, middleware and routing cost on top of gRPC itself.
//
// It takes the same server options as the gateway (largest request message:
// 4 MiB value + 1 MiB overhead) and nothing else, so the two differ only in
// what happens between receiving a request and answering it.
//
//   prism-baseline --listen 127.0.0.1:0 --ready-file /tmp/base.json
//
// Once listening it writes {"grpc_port": N} to the ready file (temp file +
// rename, so a reader never sees half of it). SIGTERM or SIGINT stop it with
// exit status 0.

#include "frontend/grpc_tuning.hpp"
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "prism/v1/keyvalue.grpc.pb.h"

namespace {

using clock_type = std::chrono::steady_clock;
namespace pb = prism::v1;

// Limits of the gateway's front end (src/config/defaults.hpp), repeated here so
// the baseline does not link the gateway's libraries.
constexpr uint64_t key_bytes_max = 4096;
constexpr uint64_t value_bytes_max = 4 * 1024 * 1024;
constexpr uint64_t message_overhead_bytes = 1024 * 1024;
constexpr uint32_t scan_limit_default = 100;
constexpr uint32_t scan_limit_max = 1000;
constexpr uint32_t batch_keys_max = 1000;

struct entry {
  std::string value;
  uint64_t version = 0;
  /// clock_type::time_point::max() when the key never expires.
  clock_type::time_point expires_at = clock_type::time_point::max();

  bool live(clock_type::time_point now) const { return now < expires_at; }
};

/// One namespace's keys, in bytewise order for Scan.
struct keyspace {
  std::mutex mutex;
  std::map<std::string, entry> entries;
  /// Versions count up per namespace, so a key removed and written again never
  /// gets a version it had before.
  uint64_t last_version = 0;
};

class store {
public:
  /// The namespace's keyspace, created on first use.
  keyspace& space(const std::string& name) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto& slot = spaces_[name];
    if (!slot)
      slot = std::make_unique<keyspace>();
    return *slot;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<keyspace>> spaces_;
};

clock_type::time_point expiry(uint64_t ttl_ms, clock_type::time_point now) {
  if (ttl_ms == 0)
    return clock_type::time_point::max();
  return now + std::chrono::milliseconds{ttl_ms};
}

grpc::Status invalid(std::string message) {
  return {grpc::StatusCode::INVALID_ARGUMENT, std::move(message)};
}

std::optional<grpc::Status> check_namespace(const std::string& ns) {
  if (ns.empty())
    return invalid("namespace is empty");
  return std::nullopt;
}

std::optional<grpc::Status> check_key(const std::string& key) {
  if (key.empty())
    return invalid("key is empty");
  if (key.size() > key_bytes_max)
    return invalid("key is longer than " + std::to_string(key_bytes_max)
                   + " bytes");
  return std::nullopt;
}

std::optional<grpc::Status> check_value(const std::string& value) {
  if (value.size() > value_bytes_max)
    return invalid("value is larger than " + std::to_string(value_bytes_max)
                   + " bytes");
  return std::nullopt;
}

std::optional<grpc::Status> check_count(int n) {
  if (static_cast<uint32_t>(n) > batch_keys_max)
    return invalid("more than " + std::to_string(batch_keys_max)
                   + " keys in one request");
  return std::nullopt;
}

class key_value_service final : public pb::KeyValue::CallbackService {
public:
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
                                const pb::GetRequest* req,
                                pb::GetResponse* resp) override {
    return finish(ctx, get(*req, *resp));
  }

  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* ctx,
                                const pb::SetRequest* req,
                                pb::SetResponse* resp) override {
    return finish(ctx, set(*req, *resp));
  }

  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const pb::DeleteRequest* req,
                                   pb::DeleteResponse* resp) override {
    return finish(ctx, erase(*req, *resp));
  }

  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext* ctx,
                                   const pb::ExistsRequest* req,
                                   pb::ExistsResponse* resp) override {
    return finish(ctx, exists(*req, *resp));
  }

  grpc::ServerUnaryReactor* BatchGet(grpc::CallbackServerContext* ctx,
                                     const pb::BatchGetRequest* req,
                                     pb::BatchGetResponse* resp) override {
    return finish(ctx, batch_get(*req, *resp));
  }

  grpc::ServerUnaryReactor* BatchSet(grpc::CallbackServerContext* ctx,
                                     const pb::BatchSetRequest* req,
                                     pb::BatchSetResponse* resp) override {
    return finish(ctx, batch_set(*req, *resp));
  }

  grpc::ServerUnaryReactor* BatchDelete(
    grpc::CallbackServerContext* ctx, const pb::BatchDeleteRequest* req,
    pb::BatchDeleteResponse* resp) override {
    return finish(ctx, batch_delete(*req, *resp));
  }

  grpc::ServerUnaryReactor* Scan(grpc::CallbackServerContext* ctx,
                                 const pb::ScanRequest* req,
                                 pb::ScanResponse* resp) override {
    return finish(ctx, scan(*req, *resp));
  }

private:
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx,
                                          grpc::Status status) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  grpc::Status get(const pb::GetRequest& req, pb::GetResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_key(req.key()))
      return *bad;
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    auto i = ks.entries.find(req.key());
    if (i != ks.entries.end() && i->second.live(now)) {
      resp.set_found(true);
      resp.set_value(i->second.value);
      resp.set_version(i->second.version);
    }
    return grpc::Status::OK;
  }

  grpc::Status set(const pb::SetRequest& req, pb::SetResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_key(req.key()))
      return *bad;
    if (auto bad = check_value(req.value()))
      return *bad;
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    auto i = ks.entries.find(req.key());
    bool present = i != ks.entries.end() && i->second.live(now);
    if (req.has_if_version()) {
      uint64_t current = present ? i->second.version : 0;
      if (current != req.if_version())
        return {grpc::StatusCode::FAILED_PRECONDITION,
                present ? "key '" + req.key() + "' is at version "
                    + std::to_string(current) + ", not "
                    + std::to_string(req.if_version())
                        : "key '" + req.key() + "' is absent"};
    }
    if (i == ks.entries.end())
      i = ks.entries.emplace(req.key(), entry{}).first;
    i->second.value = req.value();
    i->second.version = ++ks.last_version;
    i->second.expires_at = expiry(req.ttl_ms(), now);
    resp.set_version(i->second.version);
    return grpc::Status::OK;
  }

  grpc::Status erase(const pb::DeleteRequest& req, pb::DeleteResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_key(req.key()))
      return *bad;
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    auto i = ks.entries.find(req.key());
    if (i != ks.entries.end()) {
      resp.set_existed(i->second.live(now));
      ks.entries.erase(i);
    }
    return grpc::Status::OK;
  }

  grpc::Status exists(const pb::ExistsRequest& req, pb::ExistsResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_key(req.key()))
      return *bad;
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    auto i = ks.entries.find(req.key());
    resp.set_exists(i != ks.entries.end() && i->second.live(now));
    return grpc::Status::OK;
  }

  grpc::Status batch_get(const pb::BatchGetRequest& req,
                         pb::BatchGetResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_count(req.keys_size()))
      return *bad;
    for (const auto& key : req.keys())
      if (auto bad = check_key(key))
        return *bad;
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    for (const auto& key : req.keys()) {
      auto* item = resp.add_items();
      item->set_key(key);
      auto i = ks.entries.find(key);
      if (i != ks.entries.end() && i->second.live(now)) {
        item->set_found(true);
        item->set_value(i->second.value);
        item->set_version(i->second.version);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status batch_set(const pb::BatchSetRequest& req,
                         pb::BatchSetResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_count(req.entries_size()))
      return *bad;
    for (const auto& e : req.entries()) {
      if (auto bad = check_key(e.key()))
        return *bad;
      if (auto bad = check_value(e.value()))
        return *bad;
    }
    // Everything is checked before the first write, so the batch lands whole.
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    for (const auto& e : req.entries()) {
      auto& slot = ks.entries[e.key()];
      slot.value = e.value();
      slot.version = ++ks.last_version;
      slot.expires_at = expiry(e.ttl_ms(), now);
      resp.add_versions(slot.version);
    }
    return grpc::Status::OK;
  }

  grpc::Status batch_delete(const pb::BatchDeleteRequest& req,
                            pb::BatchDeleteResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    if (auto bad = check_count(req.keys_size()))
      return *bad;
    for (const auto& key : req.keys())
      if (auto bad = check_key(key))
        return *bad;
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    uint32_t deleted = 0;
    for (const auto& key : req.keys()) {
      auto i = ks.entries.find(key);
      if (i == ks.entries.end())
        continue;
      if (i->second.live(now))
        ++deleted;
      ks.entries.erase(i);
    }
    resp.set_deleted(deleted);
    return grpc::Status::OK;
  }

  grpc::Status scan(const pb::ScanRequest& req, pb::ScanResponse& resp) {
    if (auto bad = check_namespace(req.namespace_()))
      return *bad;
    uint32_t limit = req.limit() == 0 ? scan_limit_default : req.limit();
    if (limit > scan_limit_max)
      limit = scan_limit_max;
    const auto& prefix = req.prefix();
    // Start at the later of the prefix and the key after start_after.
    std::string from = prefix;
    bool skip_equal = false;
    if (!req.start_after().empty() && req.start_after() >= from) {
      from = req.start_after();
      skip_equal = true;
    }
    auto& ks = store_.space(req.namespace_());
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{ks.mutex};
    auto i = skip_equal ? ks.entries.upper_bound(from)
                        : ks.entries.lower_bound(from);
    uint32_t taken = 0;
    std::string last;
    for (; i != ks.entries.end(); ++i) {
      if (i->first.compare(0, prefix.size(), prefix) != 0)
        break;
      if (!i->second.live(now))
        continue;
      if (taken == limit) {
        // Another live key follows: the caller continues after the last one.
        resp.set_next_start_after(last);
        break;
      }
      auto* item = resp.add_items();
      item->set_key(i->first);
      item->set_found(true);
      if (!req.keys_only())
        item->set_value(i->second.value);
      item->set_version(i->second.version);
      last = i->first;
      ++taken;
    }
    return grpc::Status::OK;
  }

  store store_;
};

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
    << "Usage: prism-baseline [--listen HOST:PORT] [--ready-file PATH]\n"
       "\n"
       "The prism.v1.KeyValue service over an in-memory map, without the\n"
       "gateway: the reference the benchmark measures the gateway against.\n"
       "\n"
       "  --listen HOST:PORT   address to serve gRPC on; port 0 picks a free\n"
       "                       port (default 127.0.0.1:0)\n"
       "  --ready-file PATH    once listening, write {\"grpc_port\": N} there\n"
       "  -h, --help           print this help\n"
       "\n"
       "SIGTERM or SIGINT stop it with exit status 0.\n";
}

} // namespace

int main(int argc, char** argv) {
  prism::frontend::tune_grpc_runtime();
  std::string listen = "127.0.0.1:0";
  std::string ready_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "prism-baseline: " << name << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--listen") {
      listen = value("--listen");
    } else if (arg.rfind("--listen=", 0) == 0) {
      listen = arg.substr(9);
    } else if (arg == "--ready-file") {
      ready_file = value("--ready-file");
    } else if (arg.rfind("--ready-file=", 0) == 0) {
      ready_file = arg.substr(13);
    } else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "prism-baseline: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }
  if (listen.rfind(':') == std::string::npos) {
    std::cerr << "prism-baseline: --listen wants HOST:PORT, got '" << listen
              << "'\n";
    return 2;
  }

  // Block the stop signals before gRPC starts its threads, so that only the
  // waiting loop below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  key_value_service service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(
    static_cast<int>(value_bytes_max + message_overhead_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "prism-baseline: cannot listen on " << listen << "\n";
    return 1;
  }
  std::cerr << "prism-baseline: listening on port " << port << "\n";
  if (!ready_file.empty() && !write_ready_file(ready_file, port)) {
    std::cerr << "prism-baseline: cannot write " << ready_file << ": "
              << std::strerror(errno) << "\n";
    server->Shutdown();
    return 1;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "prism-baseline: "
            << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ", stopping\n";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds{2});
  server->Wait();
  return 0;
}
