#include "pool/pool.hpp"

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
  if (!any_alive(st)) {
    fail_call(self, std::move(call), status_code::unavailable,
              fmt::format("backend \"{}\" has no working connection",
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
  fail_call(self, std::move(call), status_code::resource_exhausted,
            fmt::format("backend \"{}\" is saturated: all connections are "
                        "busy and {} requests are waiting; retry later",
                        st.options.backend, st.options.max_pending));
}

void release(self_ptr self, uint32_t index) {
  auto& st = self->state;
  if (index >= st.busy.size() || st.busy[index] == 0)
    return;
  --st.busy[index];
  while (!st.pending.empty()) {
    auto next = pick_connection(st);
    if (next < 0)
      return;
    auto call = std::move(st.pending.front());
    st.pending.pop_front();
    admit(self, std::move(call));
  }
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

pool_actor::behavior_type pool(pool_actor::stateful_pointer<pool_state> self,
                               pool_options options,
                               std::vector<driver_handoff> drivers) {
  auto& st = self->state;
  st.options = std::move(options);
  st.registration
    = enroll_if(st.options.actors, self, "pool", st.options.backend);
  for (uint32_t i = 0; i < drivers.size(); ++i) {
    auto conn = self->spawn(connection, pool_actor{self}, i, drivers[i],
                            st.options.actors,
                            st.options.backend + "#" + std::to_string(i));
    self->monitor(conn);
    st.connections.push_back(conn);
    st.busy.push_back(0);
    st.alive.push_back(true);
  }
  // Connections are not linked to the pool (a failing connection must not
  // take the pool down), so the pool ends them when it ends.
  self->attach_functor([children = st.connections](const caf::error&) {
    for (auto& child : children)
      caf::anon_send_exit(child, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    for (size_t i = 0; i < st.connections.size(); ++i)
      if (st.connections[i].address() == msg.source) {
        st.alive[i] = false;
        st.busy[i] = 0;
        if (st.registration)
          st.registration->record_failure(
            "connection #" + std::to_string(i) + " stopped: "
              + to_string(msg.reason),
            self->clock().now());
        spdlog::error("backend \"{}\": connection #{} stopped: {}",
                      st.options.backend, i, to_string(msg.reason));
      }
  });
  self->delayed_send(self, st.options.sweep_interval, sweep_atom::value);
  return {
    [=](request_atom, call_ptr& call) {
      count_handled(self->state.registration);
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
  };
}

} // namespace prism
