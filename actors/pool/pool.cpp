#include "pool/pool.hpp"

#include "runtime/forward.hpp"
#include "runtime/supervisor.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

namespace prism {

const char* to_string(circuit_state s) noexcept {
  switch (s) {
    case circuit_state::open: return "open";
    case circuit_state::half_open: return "half-open";
    default: return "closed";
  }
}

namespace {

using self_ptr = pool_impl::stateful_pointer<pool_state>;

uint32_t to_ms(caf::timespan t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(ms, 1, UINT32_MAX));
}

/// The index of a live connection with room for one more call, or -1.
int pick_connection(pool_state& st) {
  auto n = static_cast<uint32_t>(st.connections.size());
  for (uint32_t step = 0; step < n; ++step) {
    auto i = (st.cursor + step) % n;
    if (st.alive[i] && st.busy[i] < st.options.in_flight_per_connection) {
      st.cursor = (i + 1) % n;
      return static_cast<int>(i);
    }
  }
  return -1;
}

/// Whether some live connection has room for one more call.
bool connection_with_room(const pool_state& st) {
  for (size_t i = 0; i < st.connections.size(); ++i)
    if (st.alive[i] && st.busy[i] < st.options.in_flight_per_connection)
      return true;
  return false;
}

bool any_alive(const pool_state& st) {
  for (bool a : st.alive)
    if (a)
      return true;
  return false;
}

/// True while some connection has not started for the first time yet (calls
/// then wait for it instead of failing).
bool starting(const pool_state& st) {
  if (!st.supervisor || st.circuit != circuit_state::closed)
    return false;
  for (auto n : st.starts)
    if (n == 0)
      return true;
  return false;
}

void send_to(self_ptr self, uint32_t index, call_ptr call) {
  ++self->state.busy[index];
  self->send(self->state.connections[index], request_atom::value,
             std::move(call));
}

/// The answer while the circuit is not closed.
model::outcome circuit_refusal(self_ptr self) {
  auto& st = self->state;
  model::outcome o;
  if (st.circuit == circuit_state::open) {
    auto left = st.probe_at - self->clock().now();
    o = model::outcome::failure(
      status_code::unavailable,
      fmt::format("backend \"{}\" is unavailable: its circuit is open after "
                  "repeated connection failures ({}); the gateway probes it "
                  "again in {} ms, retry after that",
                  st.options.backend, st.open_reason, to_ms(left)));
    o.status.retry_after_ms = to_ms(left);
  } else {
    o = model::outcome::failure(
      status_code::unavailable,
      fmt::format("backend \"{}\" is unavailable: the gateway is probing it "
                  "after repeated connection failures ({}); retry shortly",
                  st.options.backend, st.open_reason));
    o.status.retry_after_ms = to_ms(st.options.probe_after);
  }
  o.status.reason = refusal::circuit_open;
  return o;
}

/// The pool answers a call itself with an error.
void count_error(pool_state& st) {
  if (st.options.figures)
    st.options.figures->count_error();
}

void admit(self_ptr self, call_ptr call) {
  auto& st = self->state;
  if (call->expired(self->clock().now())) {
    count_error(st);
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed while it waited for a backend "
              "connection");
    return;
  }
  if (st.circuit == circuit_state::half_open && !st.trial_running) {
    // One trial at a time, on a connection that is up.
    auto index = pick_connection(st);
    if (index >= 0) {
      st.trial_running = true;
      send_to(self, static_cast<uint32_t>(index), std::move(call));
      return;
    }
  }
  if (st.circuit != circuit_state::closed) {
    count_error(st);
    ++st.rejected;
    if (st.registration)
      st.registration->count_rejected();
    reply(self, std::move(call), circuit_refusal(self));
    return;
  }
  if (!any_alive(st) && !starting(st)) {
    auto o = model::outcome::failure(
      status_code::unavailable,
      fmt::format("backend \"{}\" has no working connection at the moment "
                  "(its connections are restarting); retry shortly",
                  st.options.backend));
    o.status.retry_after_ms = to_ms(st.options.supervision.backoff.min);
    count_error(st);
    reply(self, std::move(call), std::move(o));
    return;
  }
  auto index = pick_connection(st);
  if (index >= 0) {
    send_to(self, static_cast<uint32_t>(index), std::move(call));
    return;
  }
  if (st.pending.size() < st.options.max_pending) {
    st.pending.push_back(std::move(call));
    st.pending_since.push_back(self->clock().now());
    if (st.pending.size() == 1 && st.options.figures)
      st.options.figures->set_oldest_waiting(st.pending_since.front());
    return;
  }
  count_error(st);
  ++st.rejected;
  if (st.registration)
    st.registration->count_rejected();
  reply(self, std::move(call),
        pool_saturated_refusal(st.options.backend, st.options.max_pending));
}

/// Hands waiting calls to connections with room; with no connection left
/// (and none starting), answers them all.
void dispatch_pending(self_ptr self) {
  auto& st = self->state;
  bool drain = st.circuit != circuit_state::closed
    || (!any_alive(st) && !starting(st));
  while (!st.pending.empty()) {
    if (!drain && pick_connection(st) < 0)
      return;
    auto call = std::move(st.pending.front());
    st.pending.pop_front();
    st.pending_since.pop_front();
    if (st.options.figures)
      st.options.figures->set_oldest_waiting(
        st.pending_since.empty() ? std::nullopt
                                 : std::optional<caf::actor_clock::time_point>{
                                   st.pending_since.front()});
    admit(self, std::move(call));
  }
}

void close_circuit(self_ptr self);

void release(self_ptr self, uint32_t index) {
  auto& st = self->state;
  if (index < st.busy.size() && st.busy[index] > 0)
    --st.busy[index];
  // A connection releases a call it completed without losing its
  // connection: while half open, that is the trial that closes the circuit.
  if (st.circuit == circuit_state::half_open && st.trial_running)
    close_circuit(self);
  dispatch_pending(self);
}

void sweep(self_ptr self) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(st.connections.size());
  for (uint32_t step = 0; step < n; ++step) {
    auto i = st.sweep_cursor++ % n;
    if (st.alive[i]) {
      self->send(st.connections[i], sweep_atom::value);
      break;
    }
  }
  self->delayed_send(self, st.options.sweep_interval, sweep_atom::value);
}

std::string connection_name(const pool_options& opts, uint32_t index) {
  return opts.backend + "#" + std::to_string(index);
}

/// The supervisor's recipe for connection `index`: the first start uses
/// `first` if the gateway opened a driver for it (so a backend that cannot be
/// reached fails the start of the gateway); every other start opens a fresh
/// one. `earlier_starts` counts the connection's starts under previous
/// supervisors, so its restart count keeps rising across circuit probes.
child_spec connection_spec(self_ptr self, uint32_t index, driver_handoff first,
                           uint32_t earlier_starts) {
  auto opts = self->state.options;
  pool_actor me = self;
  auto first_driver = std::make_shared<driver_handoff>(std::move(first));
  auto starts = std::make_shared<uint32_t>(earlier_starts);
  child_spec spec;
  spec.name = connection_name(opts, index);
  spec.restart = restart_type::permanent;
  spec.start
    = [opts, me, index, first_driver, starts](caf::local_actor* parent) {
        driver_handoff driver;
        if (*first_driver) {
          driver = std::move(*first_driver);
          first_driver->reset();
        } else {
          if (!opts.reopen)
            return caf::actor{};
          driver = std::make_shared<std::unique_ptr<drivers::kv_driver>>(
            opts.reopen(index));
        }
        auto restarts = (*starts)++;
        return caf::actor_cast<caf::actor>(parent->spawn(
          connection, me, index, driver, opts.actors,
          connection_name(opts, index), parent->id(), restarts, opts.figures));
      };
  return spec;
}

/// Starts a supervisor over all connections; `drivers` holds the first
/// drivers (empty: every connection opens a fresh one).
void start_supervisor(self_ptr self, std::vector<driver_handoff> drivers) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(st.connections.size());
  supervisor_spec spec;
  spec.name = "pool:" + st.options.backend;
  spec.options = st.options.supervision;
  spec.observer = caf::actor_cast<caf::actor>(self);
  // A new seed per supervisor, still fixed by the pool's seed.
  spec.seed = st.options.seed + st.opened;
  spec.actors = st.options.actors;
  spec.parent = self->id();
  for (uint32_t i = 0; i < n; ++i)
    spec.children.push_back(connection_spec(
      self, i, i < drivers.size() ? drivers[i] : driver_handoff{},
      st.starts[i]));
  st.supervisor = self->spawn(supervisor, std::move(spec));
  *st.current_supervisor = st.supervisor;
  self->monitor(st.supervisor);
}

void resolve_gauges(pool_state& st) {
  if (!st.options.metrics)
    return;
  auto g = resolve_pool_gauges(*st.options.metrics, st.options.backend);
  st.connections_gauge = g.connections;
  st.active_gauge = g.active;
  st.idle_gauge = g.idle;
  st.waiting_gauge = g.waiting;
}

/// Marks the gate saturated while a call sent now could only be refused for
/// a full queue (see pool.hpp), and takes the calls refused ahead of the
/// pool meanwhile into the pool's counts.
void publish_saturation(pool_state& st) {
  auto& gate = *st.options.gate;
  gate.set_saturated(st.circuit == circuit_state::closed
                     && st.pending.size() >= st.options.max_pending
                     && !connection_with_room(st));
  auto ahead = gate.refused_ahead();
  if (ahead > st.refused_ahead_seen) {
    auto n = ahead - st.refused_ahead_seen;
    st.refused_ahead_seen = ahead;
    st.rejected += n;
    if (st.options.figures)
      st.options.figures->count_error(n);
  }
  if (st.registration) {
    auto rejected = gate.rejected();
    if (rejected > st.gate_rejections_seen) {
      st.registration->count_rejected(rejected - st.gate_rejections_seen);
      st.gate_rejections_seen = rejected;
    }
  }
}

/// Shows the pool's current counts in its gauges and its saturation on its
/// gate: after every message, so a scrape or GET /debug/pools reads them
/// without asking the pool.
void publish_gauges(pool_state& st) {
  publish_saturation(st);
  if (!st.connections_gauge)
    return;
  uint32_t active = 0;
  uint32_t idle = 0;
  for (size_t i = 0; i < st.connections.size(); ++i) {
    if (!st.alive[i])
      continue;
    if (st.busy[i] > 0)
      ++active;
    else
      ++idle;
  }
  st.connections_gauge->Set(static_cast<double>(st.connections.size()));
  st.active_gauge->Set(active);
  st.idle_gauge->Set(idle);
  st.waiting_gauge->Set(static_cast<double>(st.pending.size()));
}

void set_record_state(self_ptr self) {
  auto& st = self->state;
  if (st.options.figures)
    st.options.figures->set_circuit(static_cast<uint8_t>(st.circuit),
                                    self->clock().now());
  if (!st.registration)
    return;
  switch (st.circuit) {
    case circuit_state::closed:
      st.registration->set_state(actor_state::running);
      break;
    case circuit_state::open:
      st.registration->set_state(actor_state::failed);
      break;
    case circuit_state::half_open:
      st.registration->set_state(actor_state::restarting);
      break;
  }
}

/// The connections' supervisor ended: open the circuit (or keep it open),
/// answer what waits, and schedule a probe.
void open_circuit(self_ptr self, std::string reason) {
  auto& st = self->state;
  auto was = st.circuit;
  st.trial_running = false;
  st.probe_delay = was == circuit_state::half_open
    ? std::min(st.probe_delay * 2, st.options.probe_max)
    : st.options.probe_after;
  st.circuit = circuit_state::open;
  st.open_reason = std::move(reason);
  ++st.opened;
  st.probe_at = self->clock().now() + st.probe_delay;
  for (size_t i = 0; i < st.alive.size(); ++i) {
    st.alive[i] = false;
    st.busy[i] = 0;
  }
  set_record_state(self);
  if (st.registration)
    st.registration->record_failure("circuit open: " + st.open_reason,
                                    self->clock().now());
  spdlog::error("backend \"{}\": circuit {}: {}; probing again in {} ms",
                st.options.backend,
                was == circuit_state::half_open ? "stays open (probe failed)"
                                                : "opened",
                st.open_reason, to_ms(st.probe_delay));
  self->delayed_send(self, st.probe_delay, probe_atom::value, ++st.probe_id);
  dispatch_pending(self);
}

void probe(self_ptr self, uint64_t id) {
  auto& st = self->state;
  if (st.circuit != circuit_state::open || id != st.probe_id)
    return;
  st.circuit = circuit_state::half_open;
  set_record_state(self);
  spdlog::info("backend \"{}\": circuit half-open: starting its connections "
               "again",
               st.options.backend);
  start_supervisor(self, {});
}

void close_circuit(self_ptr self) {
  auto& st = self->state;
  st.circuit = circuit_state::closed;
  st.trial_running = false;
  st.probe_delay = caf::timespan{0};
  set_record_state(self);
  spdlog::info("backend \"{}\": circuit closed: a trial request succeeded",
               st.options.backend);
}

void on_connection_started(self_ptr self, const std::string& name,
                           const caf::actor& handle) {
  auto& st = self->state;
  for (uint32_t i = 0; i < st.connections.size(); ++i) {
    if (connection_name(st.options, i) != name)
      continue;
    st.connections[i] = caf::actor_cast<connection_actor>(handle);
    st.alive[i] = true;
    st.busy[i] = 0;
    auto restarts = st.starts[i]++;
    self->monitor(handle);
    // The pool's record counts its connections' restarts.
    if (restarts > 0 && st.registration)
      st.registration->count_restart();
    if (restarts > 0 && st.options.figures)
      st.options.figures->count_reconnect();
    if (restarts > 0)
      spdlog::info("backend \"{}\": connection #{} is back (restart {})",
                   st.options.backend, i, restarts);
    if (st.circuit == circuit_state::half_open)
      spdlog::info("backend \"{}\": connection #{} is up while half open; "
                   "the next request is a trial",
                   st.options.backend, i);
    dispatch_pending(self);
    return;
  }
}

void on_connection_failed(self_ptr self, const std::string& name,
                          const std::string& reason) {
  auto& st = self->state;
  if (st.registration)
    st.registration->record_failure(name + ": " + reason, self->clock().now());
  if (st.circuit == circuit_state::half_open && st.supervisor) {
    // One failed start is enough to tell the backend is still down: end the
    // probe instead of waiting for the supervisor's backoff and intensity.
    st.open_reason = name + ": " + reason;
    self->send_exit(st.supervisor, caf::exit_reason::user_shutdown);
  }
}

void on_down(self_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (st.supervisor && msg.source == st.supervisor.address()) {
    // The supervisor gave up (its restart intensity was exceeded), was
    // killed, or the probe ended it.
    auto reason = supervision_error_text(msg.reason);
    if (reason.empty())
      reason = self->home_system().render(msg.reason);
    spdlog::warn("backend \"{}\": its connections' supervisor stopped: {}",
                 st.options.backend, reason);
    st.supervisor = nullptr;
    *st.current_supervisor = nullptr;
    open_circuit(self,
                 st.circuit == circuit_state::half_open ? st.open_reason
                                                        : std::move(reason));
    return;
  }
  for (size_t i = 0; i < st.connections.size(); ++i)
    if (st.connections[i].address() == msg.source) {
      st.alive[i] = false;
      st.busy[i] = 0;
      auto reason = supervision_error_text(msg.reason);
      if (reason.empty())
        reason = to_string(msg.reason);
      if (st.registration)
        st.registration->record_failure("connection #" + std::to_string(i)
                                          + " stopped: " + reason,
                                        self->clock().now());
      spdlog::error("backend \"{}\": connection #{} stopped: {}",
                    st.options.backend, i, reason);
      dispatch_pending(self);
    }
}

} // namespace

pool_impl::behavior_type pool(pool_impl::stateful_pointer<pool_state> self,
                              pool_options options,
                              std::vector<driver_handoff> drivers) {
  auto& st = self->state;
  st.options = std::move(options);
  st.registration = enroll_if(st.options.actors, self, "pool",
                              st.options.backend, st.options.parent);
  if (st.registration)
    st.registration->set_mailbox_limit(st.options.gate->limit());
  if (st.options.figures)
    st.options.figures->pool_started(self->id(), self->clock().now());
  auto n = static_cast<uint32_t>(drivers.size());
  st.connections.resize(n);
  st.busy.assign(n, 0);
  st.alive.assign(n, false);
  st.starts.assign(n, 0);
  resolve_gauges(st);
  publish_gauges(st);
  // Connections run under a supervisor of their own, which restarts one that
  // fails (with backoff) and tells the pool about each new incarnation.
  start_supervisor(self, std::move(drivers));
  // The supervisor is not linked to the pool (a failing connection must not
  // take the pool down), so the pool ends it, and with it the connections,
  // when it ends.
  self->attach_functor([current = st.current_supervisor,
                        gate = st.options.gate](const caf::error&) {
    // A pool that is gone refuses nothing ahead: its successor has a gate
    // of its own, and calls sent meanwhile find the pool missing.
    gate->set_saturated(false);
    if (*current)
      caf::anon_send_exit(*current, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([=](caf::down_msg& msg) {
    on_down(self, msg);
    publish_gauges(self->state);
  });
  self->delayed_send(self, st.options.sweep_interval, sweep_atom::value);
  return {
    [=](request_atom, call_ptr& call) {
      handling timed{self->state.registration};
      auto& st = self->state;
      took_message(*st.options.gate, st.registration, st.gate_rejections_seen);
      call->hops.add(hop_kind::pool, self->id(), self->clock().now());
      admit(self, std::move(call));
      publish_gauges(st);
    },
    [=](released_atom, uint32_t index) {
      handling timed{self->state.registration};
      release(self, index);
      publish_gauges(self->state);
    },
    [=](sweep_atom) {
      handling timed{self->state.registration};
      sweep(self);
      publish_gauges(self->state);
    },
    [=](child_started_atom, const std::string& name, const caf::actor& handle) {
      handling timed{self->state.registration};
      on_connection_started(self, name, handle);
      publish_gauges(self->state);
    },
    [=](child_failed_atom, const std::string& name, const std::string& reason) {
      handling timed{self->state.registration};
      on_connection_failed(self, name, reason);
      publish_gauges(self->state);
    },
    [=](probe_atom, uint64_t id) {
      handling timed{self->state.registration};
      probe(self, id);
      publish_gauges(self->state);
    },
  };
}

} // namespace prism
