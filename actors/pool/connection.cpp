#include "pool/connection.hpp"

#include <algorithm>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "runtime/forward.hpp"
#include "runtime/supervision.hpp"

namespace prism {

namespace {

using self_ptr = connection_impl::stateful_pointer<connection_state>;

/// An outcome that a driver hands over before `execute` returns (the memory
/// driver always does), caught on the connection's own thread so that the
/// connection finishes the call at once instead of sending itself a message.
/// A driver thread answering later finds no catcher (or another one) and
/// posts the outcome to the connection as a `done` message.
struct inline_outcome {
  const void* connection;
  uint64_t seq;
  std::optional<model::outcome> result;
};

thread_local inline_outcome* catcher = nullptr;

/// Sets the catcher for the duration of one `execute`, whatever it throws.
class catching {
public:
  explicit catching(inline_outcome& target) : previous_(catcher) {
    catcher = &target;
  }
  ~catching() { catcher = previous_; }
  catching(const catching&) = delete;
  catching& operator=(const catching&) = delete;

private:
  inline_outcome* previous_;
};

void finish_operation(self_ptr self, uint64_t seq, model::outcome& result);

/// Whether an answer is the backend failing (not an answer about the data,
/// such as NOT_FOUND or a version conflict).
bool backend_error(status_code code) {
  switch (code) {
    case status_code::unknown:
    case status_code::deadline_exceeded:
    case status_code::internal:
    case status_code::unavailable:
    case status_code::data_loss: return true;
    default: return false;
  }
}

void count_served(connection_state& st, status_code code) {
  if (st.figures)
    st.figures->count_served(backend_error(code));
}

void start_operation(self_ptr self, call_ptr call) {
  auto& st = self->state;
  auto now = self->clock().now();
  call->hops.add(hop_kind::connection, self->id(), now);
  if (call->expired(now)) {
    count_served(st, status_code::deadline_exceeded);
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed before its backend started it");
    self->send(st.pool, released_atom::value, st.index);
    return;
  }
  auto seq = st.next_seq++;
  auto ns = call->context.ns;
  auto op = call->operation;
  // The backend gets what is left of the client's deadline as its timeout.
  auto timeout = drivers::no_timeout;
  if (call->context.deadline != caf::actor_clock::time_point::max())
    timeout = std::chrono::duration_cast<drivers::op_timeout>(
      call->context.deadline - now);
  st.in_flight.emplace_back(seq, std::move(call));
  connection_impl me = self;
  const void* id = self;
  inline_outcome here{id, seq, std::nullopt};
  {
    catching scope{here};
    st.driver->execute(
      std::move(ns), std::move(op), timeout,
      [me, id, seq](model::outcome result) {
        auto* c = catcher;
        if (c && c->connection == id && c->seq == seq && !c->result) {
          c->result.emplace(std::move(result));
          return;
        }
        caf::anon_send(me, done_atom::value, seq, std::move(result));
      });
  }
  if (here.result)
    finish_operation(self, seq, *here.result);
}

/// The driver says its connection broke: answer everything in hand and fail,
/// so the supervisor starts a fresh connection (the pool sends nothing more
/// here meanwhile: it learns of the end from its monitor).
void connection_broke(self_ptr self, call_ptr call, model::outcome& result) {
  auto& st = self->state;
  auto reason = result.status.message;
  spdlog::warn("connection {} ({}) broke: {}", st.label, st.driver->describe(),
               reason);
  result.status.code = status_code::unavailable;
  // A lost connection means "not applied" unless the driver says the
  // request may have been (a break during COMMIT).
  bool in_doubt = reason.find("may or may not") != std::string::npos;
  result.status.message = fmt::format(
    "backend connection {} broke while it ran this request: {}{}; retry, "
    "another connection takes it",
    st.label, reason, in_doubt ? "" : "; the request was not applied");
  count_served(st, status_code::unavailable);
  reply(self, std::move(call), std::move(result));
  for (auto& [seq, other] : st.in_flight) {
    count_served(st, status_code::unavailable);
    fail_call(self, std::move(other), status_code::unavailable,
              fmt::format("backend connection {} broke while this request was "
                          "in flight ({}); a write may or may not have been "
                          "applied",
                          st.label, reason));
  }
  st.in_flight.clear();
  self->quit(make_supervision_error(
    supervision_errc::connection_broken,
    fmt::format("connection {} broke: {}", st.label, reason)));
}

void finish_operation(self_ptr self, uint64_t seq, model::outcome& result) {
  auto& st = self->state;
  auto i = std::find_if(st.in_flight.begin(), st.in_flight.end(),
                        [seq](const auto& e) { return e.first == seq; });
  if (i == st.in_flight.end())
    return;
  auto call = std::move(i->second);
  if (std::next(i) != st.in_flight.end())
    *i = std::move(st.in_flight.back());
  st.in_flight.pop_back();
  call->hops.add(hop_kind::backend, self->id(), self->clock().now());
  if (result.connection_lost) {
    connection_broke(self, std::move(call), result);
    return;
  }
  count_served(st, result.status.code);
  reply(self, std::move(call), std::move(result));
  self->send(st.pool, released_atom::value, st.index);
}

} // namespace

connection_impl::behavior_type connection(
  connection_impl::stateful_pointer<connection_state> self, pool_actor pool,
  uint32_t index, driver_handoff driver, inspector* actors, std::string name,
  uint64_t parent, uint32_t restarts, pool_figures_ptr figures) {
  auto& st = self->state;
  st.figures = std::move(figures);
  st.pool = std::move(pool);
  st.index = index;
  st.driver = std::move(*driver);
  st.label = name.empty() ? "#" + std::to_string(index) : name;
  st.registration
    = enroll_if(actors, self, "connection", std::move(name), parent);
  if (st.registration)
    st.registration->set_restarts(restarts);
  // A driver that throws leaves the connection in an unknown state: end it
  // with a reason its supervisor logs (the calls it held answer themselves
  // UNAVAILABLE as the actor's state goes).
  self->set_exception_handler(
    [self](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(eptr);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      return make_supervision_error(
        supervision_errc::connection_broken,
        fmt::format("connection {} threw: {}", self->state.label, what));
    });
  return {
    [=](request_atom, call_ptr& call) {
      handling timed{self->state.registration};
      start_operation(self, std::move(call));
    },
    [=](done_atom, uint64_t seq, model::outcome& result) {
      handling timed{self->state.registration};
      finish_operation(self, seq, result);
    },
    [=](sweep_atom) {
      handling timed{self->state.registration};
      connection_impl me = self;
      self->state.driver->reclaim_expired(
        self->state.sweep_batch_max, [me](uint64_t reclaimed) {
          caf::anon_send(me, swept_atom::value, reclaimed);
        });
    },
    [=](swept_atom, uint64_t reclaimed) {
      handling timed{self->state.registration};
      self->state.reclaimed += reclaimed;
      if (reclaimed > 0)
        spdlog::debug("{}: reclaimed {} expired keys",
                      self->state.driver->describe(), reclaimed);
    },
  };
}

} // namespace prism
