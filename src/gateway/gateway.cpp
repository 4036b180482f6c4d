#include "gateway/gateway.hpp"

#include <mutex>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "config/reload.hpp"
#include "gateway/child_specs.hpp"
#include "gateway/wiring.hpp"
#include "runtime/actor_metrics.hpp"

namespace prism {

gateway::gateway(caf::actor_system& sys, const config::gateway_config& cfg,
                 const drivers::driver_factory& factory,
                 std::shared_ptr<audit_sink> audit, inspector* actors,
                 std::shared_ptr<drivers::wall_clock> clock,
                 drivers::pubsub_driver_factory pubsub)
  : sys_(sys), wiring_(std::make_shared<wiring>()),
    metrics_(std::make_shared<metrics_registry>()) {
  if (!clock)
    clock = drivers::system_wall_clock();
  // The real Kafka and NATS clients may block while they close: they are
  // closed off the scheduler's threads (below). Clients handed in are closed
  // on the spot.
  const bool real_clients = !pubsub;
  if (real_clients)
    pubsub = [clock](const config::backend& b) {
      return drivers::make_pubsub_driver(b, clock);
    };
  auto w = wiring_;
  w->config = std::make_shared<const config::gateway_config>(cfg);
  w->request_bytes_limit = cfg.max_request_bytes();
  w->metrics = metrics_;
  w->set_namespaces_locked(cfg); // no actor runs yet

  // Middleware: one actor per stage kind, shared by every namespace that
  // names it. The access stage runs with authentication on; the rate-limit
  // stage runs even when no namespace has a limit, so that a reload can add
  // one.
  supervisor_spec middleware;
  middleware.name = "middleware";
  middleware.actors = actors;
  auto metrics = metrics_;
  for (const auto& row : config::stage_kinds) {
    if (row.kind == config::stage_kind::access && !cfg.auth.enabled())
      continue;
    middleware.children.push_back(
      stage_spec(w, row.kind, audit, actors, cfg.server.stage_mailbox_limit));
  }
  // Values the registry reads when it is scraped: the audit log's, the
  // subscriptions' lag, and the live actors' from the inspector.
  metrics->add_collector([audit] { return audit_sink_report(*audit); });
  metrics->add_collector([board = w->lag_board] { return board->report(); });
  if (actors)
    metrics->add_collector([actors, &sys] {
      return actor_metrics(actors->snapshot(sys.clock().now()));
    });

  // Backends: one pool per backend that a keyvalue namespace uses. Their
  // drivers are opened here, so a backend that cannot be reached fails the
  // start of the gateway with its reason.
  supervisor_spec backends;
  backends.name = "backends";
  backends.actors = actors;
  std::set<std::string> used;
  for (auto& [name, ns] : cfg.namespaces)
    if (ns.pattern == config::pattern::keyvalue)
      used.insert(ns.backend);
  w->expected_pools = used;
  for (auto& name : used) {
    auto& backend = cfg.backends.at(name);
    backends.children.push_back(pool_spec(
      w, backend, factory, open_drivers(backend, factory), actors, metrics));
  }
  // PubSub: one broker per backend that a pubsub namespace uses: the topics
  // themselves for a memory backend, the client of a Kafka or NATS one (made
  // here, so a config its library refuses stops the start with the reason).
  std::set<std::string> pubsub_used;
  for (auto& [name, ns] : cfg.namespaces)
    if (ns.pattern == config::pattern::pubsub)
      pubsub_used.insert(ns.backend);
  w->expected_brokers = pubsub_used;
  for (auto& name : pubsub_used) {
    auto& backend = cfg.backends.at(name);
    if (backend.type == config::backend_type::memory) {
      backends.children.push_back(broker_spec(w, backend, clock, actors));
      continue;
    }
    auto first = std::make_shared<std::unique_ptr<drivers::pubsub_driver>>();
    try {
      *first = pubsub(backend);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("backend \"{}\" ({}): {}", name,
                                           config::to_string(backend.type),
                                           e.what()));
    }
    if (real_clients && !w->closer)
      w->closer = std::make_shared<client_closer>();
    backends.children.push_back(
      remote_broker_spec(w, backend, pubsub, std::move(first), actors));
  }

  supervisor_spec root;
  root.name = "gateway";
  root.actors = actors;
  root.children.push_back(supervisor_child(std::move(middleware)));
  root.children.push_back(supervisor_child(std::move(backends)));
  // The router, after the pools so that it finds their handles.
  root.children.push_back(
    router_spec(w, actors, cfg.server.router_mailbox_limit));
  root_ = sys.spawn(supervisor, std::move(root));
  root_->attach_functor([w](const caf::error& reason) {
    if (is_normal_exit(reason))
      return;
    auto text = supervision_error_text(reason);
    if (text.empty())
      text = to_string(reason);
    spdlog::critical("the gateway's root supervisor stopped: {}", text);
    std::function<void(const std::string&)> fn;
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      fn = w->root_failed;
    }
    if (fn)
      fn(text);
  });

  session_options sopts;
  sopts.idle_timeout
    = std::chrono::milliseconds(cfg.server.session_idle_timeout_ms);
  sopts.actors = actors;
  sopts.slow = slow_;
  sopts.max_in_flight = cfg.server.session_max_in_flight;
  sopts.mailbox_limit = cfg.server.session_mailbox_limit;
  sessions_ = std::make_shared<session_directory>(sys, sopts, w->routes);
}

gateway::~gateway() {
  stop();
}

bool gateway::wait_started(std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock{wiring_->mutex};
  return wiring_->published.wait_until(
    lock, until, [this] { return wiring_->started_locked(); });
}

std::vector<std::string> gateway::reload(const config::gateway_config& next) {
  auto& w = *wiring_;
  std::lock_guard<std::mutex> guard{w.mutex};
  auto blockers = config::restart_needed(*w.config, next, w.expected_pools,
                                         w.expected_brokers,
                                         w.request_bytes_limit);
  if (!blockers.empty())
    return blockers;
  w.config = std::make_shared<const config::gateway_config>(next);
  // The router and the stages have the new config in their mailboxes before
  // the sessions can send them a call routed by the new table; calls routed
  // by the old one finish with the settings they meet.
  if (w.router)
    caf::anon_send(w.router, reload_atom::value, w.config);
  for (auto& [kind, e] : w.stages)
    caf::anon_send(e.handle, reload_atom::value, w.config);
  w.set_namespaces_locked(next);
  w.publish_locked();
  sessions_->announce_reload();
  return {};
}

void gateway::on_root_failure(std::function<void(const std::string&)> fn) {
  std::lock_guard<std::mutex> guard{wiring_->mutex};
  wiring_->root_failed = std::move(fn);
}

void gateway::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  on_root_failure(nullptr);
  sessions_->stop_all();
  // The root stops its children last started first: router, backends
  // (pools, then their connections), middleware.
  caf::anon_send_exit(root_, caf::exit_reason::user_shutdown);
}

} // namespace prism
