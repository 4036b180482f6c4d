#include "pool/pool.hpp"

#include "runtime/supervisor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace prism {

namespace {

using self_ptr = pool_actor::stateful_pointer<pool_state>;

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

bool any_alive(const pool_state& st) {
  for (bool a : st.alive)
    if (a)
      return true;
  return false;
}

/// True while some connection has not started for the first time yet (calls
/// then wait for it instead of failing).
bool starting(const pool_state& st) {
  if (!st.supervisor)
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

void admit(self_ptr self, call_ptr call) {
  auto& st = self->state;
  if (call->expired(self->clock().now())) {
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed while it waited for a backend "
              "connection");
    return;
  }
  if (!any_alive(st) && !starting(st)) {
    fail_call(self, std::move(call), status_code::unavailable,
              fmt::format("backend \"{}\" has no working connection (its "
                          "connections are restarting or its supervisor "
                          "gave up); retry later",
                          st.options.backend));
    return;
  }
  auto index = pick_connection(st);
  if (index >= 0) {
    send_to(self, static_cast<uint32_t>(index), std::move(call));
    return;
  }
  if (st.pending.size() < st.options.max_pending) {
    st.pending.push_back(std::move(call));
    return;
  }
  ++st.rejected;
  if (st.registration)
    st.registration->count_rejected();
  auto outcome = overload_refusal(
    fmt::format("backend \"{}\" is saturated: all connections are busy and "
                "{} requests are waiting; retry later",
                st.options.backend, st.options.max_pending));
  auto session = call->session;
  self->send(session, reply_atom::value, std::move(call), std::move(outcome));
}

/// Hands waiting calls to connections with room.
void dispatch_pending(self_ptr self) {
  auto& st = self->state;
  while (!st.pending.empty()) {
    auto next = pick_connection(st);
    if (next < 0)
      return;
    auto call = std::move(st.pending.front());
    st.pending.pop_front();
    admit(self, std::move(call));
  }
}

void release(self_ptr self, uint32_t index) {
  auto& st = self->state;
  if (index < st.busy.size() && st.busy[index] > 0)
    --st.busy[index];
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

} // namespace

namespace {

std::string connection_name(const pool_options& opts, uint32_t index) {
  return opts.backend + "#" + std::to_string(index);
}

/// The supervisor's recipe for connection `index`: the first start uses the
/// driver the gateway opened (so a backend that cannot be reached fails the
/// start of the gateway); every restart opens a fresh one.
child_spec connection_spec(self_ptr self, uint32_t index,
                           driver_handoff first) {
  auto opts = self->state.options;
  pool_actor me = self;
  auto first_driver = std::make_shared<driver_handoff>(std::move(first));
  auto starts = std::make_shared<uint32_t>(0);
  child_spec spec;
  spec.name = connection_name(opts, index);
  spec.restart = restart_type::permanent;
  spec.start = [opts, me, index, first_driver,
                starts](caf::local_actor* parent) {
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
    return caf::actor_cast<caf::actor>(
      parent->spawn(connection, me, index, driver, opts.actors,
                    connection_name(opts, index), parent->id(), restarts));
  };
  return spec;
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
    if (restarts > 0)
      spdlog::info("backend \"{}\": connection #{} is back (restart {})",
                   st.options.backend, i, restarts);
    dispatch_pending(self);
    return;
  }
}

void on_down(self_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (msg.source == st.supervisor.address()) {
    // The supervisor gave up (its restart intensity was exceeded) or was
    // killed: no connection comes back until the pool is restarted.
    spdlog::error("backend \"{}\": its connections' supervisor stopped: {}",
                  st.options.backend, self->home_system().render(msg.reason));
    if (st.registration)
      st.registration->record_failure("supervisor stopped: "
                                        + self->home_system().render(msg.reason),
                                      self->clock().now());
    st.supervisor_registration.reset();
    st.supervisor = nullptr;
    for (size_t i = 0; i < st.alive.size(); ++i) {
      st.alive[i] = false;
      st.busy[i] = 0;
    }
    // Nothing will take the waiting calls any more.
    while (!st.pending.empty()) {
      auto call = std::move(st.pending.front());
      st.pending.pop_front();
      admit(self, std::move(call));
    }
    return;
  }
  for (size_t i = 0; i < st.connections.size(); ++i)
    if (st.connections[i].address() == msg.source) {
      st.alive[i] = false;
      st.busy[i] = 0;
      auto reason = to_string(msg.reason);
      if (st.registration)
        st.registration->record_failure("connection #" + std::to_string(i)
                                          + " stopped: " + reason,
                                        self->clock().now());
      spdlog::error("backend \"{}\": connection #{} stopped: {}",
                    st.options.backend, i, reason);
    }
}

} // namespace

pool_actor::behavior_type pool(pool_actor::stateful_pointer<pool_state> self,
                               pool_options options,
                               std::vector<driver_handoff> drivers) {
  auto& st = self->state;
  st.options = std::move(options);
  st.registration
    = enroll_if(st.options.actors, self, "pool", st.options.backend);
  if (st.registration)
    st.registration->set_mailbox_limit(st.options.gate->limit());
  auto n = static_cast<uint32_t>(drivers.size());
  st.connections.resize(n);
  st.busy.assign(n, 0);
  st.alive.assign(n, false);
  st.starts.assign(n, 0);
  // Connections run under a supervisor of their own, which restarts one that
  // fails (with backoff) and tells the pool about each new incarnation.
  supervisor_spec spec;
  spec.name = "pool:" + st.options.backend;
  spec.options = st.options.supervision;
  spec.observer = caf::actor_cast<caf::actor>(self);
  spec.seed = st.options.seed;
  for (uint32_t i = 0; i < n; ++i)
    spec.children.push_back(connection_spec(self, i, drivers[i]));
  st.supervisor = self->spawn(supervisor, std::move(spec));
  self->monitor(st.supervisor);
  if (st.options.actors)
    st.supervisor_registration = st.options.actors->enroll(
      st.supervisor.id(), "supervisor", "pool:" + st.options.backend,
      self->id(), self->clock().now(), st.supervisor.address());
  // The supervisor is not linked to the pool (a failing connection must not
  // take the pool down), so the pool ends it, and with it the connections,
  // when it ends.
  self->attach_functor([sup = st.supervisor](const caf::error&) {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([=](caf::down_msg& msg) { on_down(self, msg); });
  self->delayed_send(self, st.options.sweep_interval, sweep_atom::value);
  return {
    [=](request_atom, call_ptr& call) {
      count_handled(self->state.registration);
      auto& st = self->state;
      took_message(*st.options.gate, st.registration, st.gate_rejections_seen);
      admit(self, std::move(call));
    },
    [=](released_atom, uint32_t index) {
      count_handled(self->state.registration);
      release(self, index);
    },
    [=](sweep_atom) {
      count_handled(self->state.registration);
      sweep(self);
    },
    [=](conn_up_atom, const std::string& name, const caf::actor& handle) {
      count_handled(self->state.registration);
      on_connection_started(self, name, handle);
    },
  };
}

} // namespace prism
