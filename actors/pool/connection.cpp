#include "pool/connection.hpp"

#include <spdlog/spdlog.h>

namespace prism {

namespace {

using self_ptr = connection_actor::stateful_pointer<connection_state>;

void start_operation(self_ptr self, call_ptr call) {
  auto& st = self->state;
  if (call->expired(self->clock().now())) {
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed before its backend started it");
    self->send(st.pool, released_atom::value, st.index);
    return;
  }
  auto seq = st.next_seq++;
  auto ns = call->context.ns;
  auto op = call->operation;
  st.in_flight.emplace(seq, std::move(call));
  connection_actor me = self;
  st.driver->execute(std::move(ns), std::move(op),
                     [me, seq](kv::outcome result) {
                       caf::anon_send(me, done_atom::value, seq,
                                      std::move(result));
                     });
}

void finish_operation(self_ptr self, uint64_t seq, kv::outcome& result) {
  auto& st = self->state;
  auto i = st.in_flight.find(seq);
  if (i == st.in_flight.end())
    return;
  auto call = std::move(i->second);
  st.in_flight.erase(i);
  auto session = call->session;
  self->send(session, reply_atom::value, std::move(call), std::move(result));
  self->send(st.pool, released_atom::value, st.index);
}

} // namespace

connection_actor::behavior_type
connection(connection_actor::stateful_pointer<connection_state> self,
           pool_actor pool, uint32_t index, driver_handoff driver,
           inspector* actors, std::string name, uint64_t parent,
           uint32_t restarts) {
  auto& st = self->state;
  st.pool = std::move(pool);
  st.index = index;
  st.driver = std::move(*driver);
  st.registration
    = enroll_if(actors, self, "connection", std::move(name), parent);
  if (st.registration)
    st.registration->set_restarts(restarts);
  return {
    [=](request_atom, call_ptr& call) {
      count_handled(self->state.registration);
      start_operation(self, std::move(call));
    },
    [=](done_atom, uint64_t seq, kv::outcome& result) {
      count_handled(self->state.registration);
      finish_operation(self, seq, result);
    },
    [=](sweep_atom) {
      count_handled(self->state.registration);
      connection_actor me = self;
      self->state.driver->reclaim_expired(
        self->state.sweep_batch_max, [me](uint64_t reclaimed) {
          caf::anon_send(me, swept_atom::value, reclaimed);
        });
    },
    [=](swept_atom, uint64_t reclaimed) {
      count_handled(self->state.registration);
      self->state.reclaimed += reclaimed;
      if (reclaimed > 0)
        spdlog::debug("{}: reclaimed {} expired keys",
                      self->state.driver->describe(), reclaimed);
    },
  };
}

} // namespace prism
