#pragma once

// Finds or starts the session actor of a client. The gRPC front end calls
// `dispatch` from its threads; a session removes itself when it has been idle.
// A call is enqueued while the directory's lock is held, so once a session has
// removed itself no new call can reach it: it only drains what it has.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>

#include "config/defaults.hpp"
#include "runtime/admission.hpp"
#include "runtime/call.hpp"
#include "runtime/rejections.hpp"
#include "runtime/slow_log.hpp"

namespace prism {

/// The routes of every configured namespace, and one for the rest (whose
/// calls the router answers with NOT_FOUND after the stages saw them).
struct route_table {
  std::unordered_map<std::string, route_ptr> by_namespace;
  route_ptr fallback;
  /// Where refused calls are counted, for the namespaces of this table.
  rejection_counters_ptr rejections;

  const route_ptr& find(const std::string& ns) const {
    auto i = by_namespace.find(ns);
    return i != by_namespace.end() ? i->second : fallback;
  }
};
using route_table_ptr = std::shared_ptr<const route_table>;

/// The route table in force. When a stage or the router is restarted (a new
/// handle and mailbox gate), the gateway publishes a new table; each session
/// notices the version change on its next request and takes the new one, so
/// the hot path reads one atomic.
class live_routes {
public:
  explicit live_routes(route_table_ptr table) : table_(std::move(table)) {}

  route_table_ptr load() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return table_;
  }
  void store(route_table_ptr table) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      table_ = std::move(table);
    }
    version_.fetch_add(1, std::memory_order_acq_rel);
  }
  uint64_t version() const noexcept {
    return version_.load(std::memory_order_acquire);
  }

private:
  mutable std::mutex mutex_;
  route_table_ptr table_;
  std::atomic<uint64_t> version_{0};
};
using live_routes_ptr = std::shared_ptr<live_routes>;

class inspector;

/// What a session shows GET /debug/clients, stored by the session as it
/// changes (relaxed atomics) and read by the admin listener.
struct session_figures {
  explicit session_figures(caf::actor_clock::time_point started)
    : started_at(started) {}
  const caf::actor_clock::time_point started_at;
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> streams{0};
  /// Calls the session started.
  std::atomic<uint64_t> calls{0};
};

using session_figures_ptr = std::shared_ptr<session_figures>;

/// One client connection (a session) at one moment, as plain data.
struct client_report {
  /// The session actor's id.
  uint64_t actor = 0;
  /// "ipv4:127.0.0.1:50612"; the principal, or "" without auth.
  std::string peer;
  std::string principal;
  int64_t age_ms = 0;
  uint64_t in_flight = 0;
  uint64_t streams = 0;
  uint64_t calls = 0;
};

struct session_options {
  caf::timespan idle_timeout = std::chrono::seconds(60);
  /// Requests one session may have in flight.
  uint32_t max_in_flight = defaults::session_max_in_flight;
  /// Requests that may wait in one session's mailbox.
  uint32_t mailbox_limit = defaults::session_mailbox_limit;
  /// Where sessions register; may be null.
  inspector* actors = nullptr;
  /// Where sessions offer the calls they answer; may be null.
  slow_log_ptr slow;
};

class session_directory
  : public std::enable_shared_from_this<session_directory> {
public:
  session_directory(caf::actor_system& sys, session_options options,
                    live_routes_ptr routes);

  /// Hands `call` to the session of `client`, starting one if needed.
  void dispatch(const std::string& client, call_ptr call);

  /// Removes the session of `client` if it is still `who`.
  void remove(const std::string& client, const caf::actor_addr& who);

  /// Ends every session; calls they still hold complete with UNAVAILABLE.
  void stop_all();

  size_t size() const;

  /// The session of `client`, or an invalid handle.
  session_actor find(const std::string& client) const;

  /// Tells every session that a reload published a new route table (each
  /// ends the streams of namespaces the table no longer has).
  void announce_reload() const;

  /// Every session's figures, ages against `now` (the actor clock), in no
  /// particular order.
  std::vector<client_report> clients(caf::actor_clock::time_point now) const;

private:
  caf::actor_system& sys_;
  session_options options_;
  live_routes_ptr routes_;
  mutable std::shared_mutex mutex_;
  struct entry {
    session_actor handle;
    /// Bounds the requests waiting in the session's mailbox.
    admission_ptr gate;
    session_figures_ptr figures;
  };

  /// Enqueues `call` if the session's mailbox has room; otherwise hands the
  /// call back so the caller can refuse it outside the lock.
  static call_ptr enqueue(const entry& e, call_ptr call);

  /// Answers a call its session had no room for.
  void refuse(call_ptr call) const;

  std::unordered_map<std::string, entry> sessions_;
};

} // namespace prism
