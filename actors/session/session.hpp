#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/call.hpp"
#include "runtime/inspector.hpp"
#include "session/session_directory.hpp"

namespace prism {

struct session_state {
  static inline const char* name = "session";
  std::string client;
  std::weak_ptr<session_directory> directory;
  live_routes_ptr routes;
  /// The table in use and the version it came with.
  route_table_ptr table;
  uint64_t table_version = 0;
  caf::timespan idle_timeout{};
  uint32_t max_in_flight = defaults::session_max_in_flight;
  /// The slots senders take before they enqueue a request here.
  admission_ptr gate;
  uint64_t gate_rejections_seen = 0;
  uint64_t in_flight = 0;
  uint64_t started = 0;
  uint64_t started_at_last_tick = 0;
  bool stopping = false;
  /// A subscriber stream this client has open, and its namespace.
  struct open_stream {
    subscription_actor subscription;
    std::string ns;
    std::string principal;
  };
  /// The streams this client has open; they end with the session (the list
  /// is shared with the cleanup that stops them), or when a reload removes
  /// their namespace.
  std::shared_ptr<std::vector<open_stream>> subscriptions
    = std::make_shared<std::vector<open_stream>>();
  /// Calls answered whose stages have not heard of them yet: they hear once
  /// the session has handled the messages already in its mailbox (a
  /// `report` it sends itself), or as it ends (shared with that cleanup).
  std::shared_ptr<std::vector<call_ptr>> unreported
    = std::make_shared<std::vector<call_ptr>>();
  inspector* actors = nullptr;
  slow_log_ptr slow;
  /// What GET /debug/clients shows of this session; may be null.
  session_figures_ptr figures;
  inspector_registration registration;
};

/// A session's own reminders: tell the stages about the calls it answered;
/// end the session if it stayed idle.
using report_atom = caf::atom_constant<caf::atom("report")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// What a session handles: its public interface and its own reminders.
using session_impl = session_actor::extend<caf::reacts_to<report_atom>,
                                           caf::reacts_to<tick_atom>>;

/// Starts the session of one client (peer address plus principal).
session_impl::behavior_type session(
  session_impl::stateful_pointer<session_state> self, std::string client,
  std::weak_ptr<session_directory> directory, live_routes_ptr routes,
  session_options options, admission_ptr gate,
  session_figures_ptr figures = nullptr);

} // namespace prism
