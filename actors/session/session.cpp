#include "session/session.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pubsub/subscription.hpp"
#include "runtime/forward.hpp"

namespace prism {

namespace {

using self_ptr = session_impl::stateful_pointer<session_state>;

/// Tells every stage of the calls in `calls` about them, one message per
/// stage, in the order the calls were answered, and empties `calls`. Each
/// message holds a slot of the stage's mailbox even past its limit: the
/// calls are answered, their outcomes must not be lost.
void report(std::vector<call_ptr>& calls) {
  struct batch {
    stage_actor stage;
    admission* gate;
    call_batch calls;
  };
  std::vector<batch> batches;
  if (!calls.empty())
    batches.reserve(calls.front()->path->stages.size());
  for (auto& call : calls) {
    const auto& path = *call->path;
    for (size_t s = 0; s < path.stages.size(); ++s) {
      auto i
        = std::find_if(batches.begin(), batches.end(), [&](const batch& b) {
            return b.stage == path.stages[s];
          });
      if (i == batches.end()) {
        auto* gate = s < path.stage_gates.size() ? path.stage_gates[s].get()
                                                 : nullptr;
        batches.push_back({path.stages[s], gate, call_batch{}});
        i = std::prev(batches.end());
        i->calls.calls.reserve(calls.size());
      }
      i->calls.calls.push_back(call);
    }
  }
  calls.clear();
  for (auto& b : batches) {
    if (b.gate)
      b.gate->take();
    caf::anon_send(b.stage, completed_atom::value, std::move(b.calls));
  }
}

/// The first stage among those that only observe `path`'s outcomes whose
/// mailbox is full, or -1.
int observer_without_room(const route& path) {
  for (auto i : path.observers)
    if (i < path.stage_gates.size() && path.stage_gates[i]
        && !path.stage_gates[i]->has_room())
      return static_cast<int>(i);
  return -1;
}

/// Shows GET /debug/clients the session's calls: two relaxed stores.
void publish_calls(session_state& st) {
  if (!st.figures)
    return;
  st.figures->in_flight.store(st.in_flight, std::memory_order_relaxed);
  st.figures->calls.store(st.started, std::memory_order_relaxed);
}

void publish_streams(session_state& st) {
  if (st.figures)
    st.figures->streams.store(st.subscriptions->size(),
                              std::memory_order_relaxed);
}

void start_call(self_ptr self, call_ptr call) {
  auto& st = self->state;
  took_message(*st.gate, st.registration, st.gate_rejections_seen);
  auto now = self->clock().now();
  call->context.received_at = now;
  call->session = self;
  ++st.in_flight;
  ++st.started;
  publish_calls(st);
  auto version = st.routes->version();
  if (!st.table || version != st.table_version) {
    st.table_version = version;
    st.table = st.routes->load();
  }
  if (!st.table) {
    auto o
      = model::outcome::failure(status_code::unavailable,
                                "the gateway is still starting its actors; "
                                "retry shortly");
    o.status.retry_after_ms = defaults::overload_retry_after_ms;
    reply(self, std::move(call), std::move(o));
    return;
  }
  call->path = st.table->find(call->context.ns);
  if (!call->rejection.ok()) {
    auto code = call->rejection.code;
    auto message = std::move(call->rejection.message);
    fail_call(self, std::move(call), code, std::move(message));
    return;
  }
  if (st.in_flight > st.max_in_flight) {
    if (st.registration)
      st.registration->count_rejected();
    auto outcome = overload_refusal(
      refusal::window_full,
      fmt::format("this client connection already has {} requests in flight, "
                  "the most one connection may have; wait for answers or "
                  "retry later",
                  st.max_in_flight));
    reply(self, std::move(call), std::move(outcome));
    return;
  }
  if (call->expired(now)) {
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed before the gateway started it");
    return;
  }
  if (auto full = call->path ? observer_without_room(*call->path) : -1;
      full >= 0) {
    auto outcome
      = saturated("middleware stage \"" + call->path->stage_kinds[full] + "\"",
                  call->path->stage_gates[full]);
    reply(self, std::move(call), std::move(outcome));
    return;
  }
  if (auto* op = std::get_if<model::subscribe_op>(call->operation.get());
      op && call->sink) {
    // The stream's subscription actor belongs to this session; the broker
    // attaches it once the call gets there.
    subscription_options o;
    o.name = call->context.ns + "/" + op->topic
      + (op->subscription.empty() ? "" : "/" + op->subscription);
    o.named = !op->subscription.empty();
    if (call->path) {
      o.buffer = call->path->subscription_buffer_messages;
      o.disconnect_when_full = call->path->disconnect_slow_subscribers;
    }
    o.actors = st.actors;
    o.parent = self->id();
    subscription_actor sub
      = self->spawn(subscription, call->sink, std::move(o));
    self->monitor(sub);
    st.subscriptions->push_back(
      {sub, call->context.ns, call->context.principal});
    publish_streams(st);
    call->subscriber = sub;
  }
  forward_call(self, std::move(call));
}

void finish_call(self_ptr self, call_ptr call, model::outcome result) {
  auto& st = self->state;
  --st.in_flight;
  if (st.figures)
    st.figures->in_flight.store(st.in_flight, std::memory_order_relaxed);
  call->completed_at = self->clock().now();
  auto code = result.status.code;
  if (st.table && st.table->rejections)
    st.table->rejections->count(call->context.ns, refusal_of(result.status));
  // A subscription whose call failed has no broker and no future.
  if (code != status_code::ok && call->subscriber)
    self->send_exit(call->subscriber, caf::exit_reason::user_shutdown);
  if (code == status_code::internal)
    spdlog::error("request_id={} {} on namespace \"{}\" failed: {}",
                  call->context.request_id,
                  model::operation_name(*call->operation), call->context.ns,
                  result.status.message);
  if (!call->complete_soon(std::move(result)))
    spdlog::error("request_id={} answered twice; the second answer ({}) was "
                  "dropped",
                  call->context.request_id, to_string(code));
  if (st.slow)
    st.slow->offer(*call, st.actors);
  // Stages that observe outcomes (metrics, audit) learn of it after the
  // client has its answer, off the request path: together with the other
  // calls answered before the session's reminder to report them comes up.
  if (call->path && !call->path->stages.empty()) {
    if (st.unreported->empty())
      self->send(self, report_atom::value);
    st.unreported->push_back(std::move(call));
  }
  if (st.stopping && st.in_flight == 0)
    self->quit();
}

/// A reload published a new route table: streams of namespaces it no
/// longer has end NOT_FOUND, and streams of principals that may no longer
/// read their namespace end PERMISSION_DENIED (their subscriptions leave
/// their brokers as they end).
void on_reload(self_ptr self) {
  auto& st = self->state;
  auto table = st.routes->load();
  if (!table)
    return;
  for (auto& s : *st.subscriptions) {
    auto i = table->by_namespace.find(s.ns);
    if (i == table->by_namespace.end()) {
      self->send(s.subscription, ended_atom::value,
                 status::failure(status_code::not_found,
                                 "namespace \"" + s.ns
                                   + "\" was removed from the gateway's "
                                     "config by a reload; subscribe to a "
                                     "configured namespace"));
      continue;
    }
    const auto& readers = i->second->readers;
    if (readers && readers->count(s.principal) == 0)
      self->send(s.subscription, ended_atom::value,
                 status::failure(status_code::permission_denied,
                                 "principal \"" + s.principal
                                   + "\" may no longer read namespace \"" + s.ns
                                   + "\": a reload of the gateway's config "
                                     "took the right away"));
  }
}

void on_tick(self_ptr self) {
  auto& st = self->state;
  bool idle = st.in_flight == 0 && st.started == st.started_at_last_tick
    && st.subscriptions->empty();
  st.started_at_last_tick = st.started;
  if (idle && !st.stopping) {
    // Leave the directory first: after that no new call can arrive, and the
    // stop message queues behind any call that slipped in before.
    if (auto dir = st.directory.lock())
      dir->remove(st.client, self->address());
    self->send(self, stop_atom::value);
    return;
  }
  if (!st.stopping)
    self->delayed_send(self, st.idle_timeout, tick_atom::value);
}

} // namespace

session_impl::behavior_type session(
  session_impl::stateful_pointer<session_state> self, std::string client,
  std::weak_ptr<session_directory> directory, live_routes_ptr routes,
  session_options options, admission_ptr gate, session_figures_ptr figures) {
  auto& st = self->state;
  st.figures = std::move(figures);
  st.registration = enroll_if(options.actors, self, "session", client);
  st.actors = options.actors;
  st.slow = options.slow;
  // Streams end with their session; stages hear of the last calls answered.
  self->attach_functor(
    [subs = st.subscriptions, unreported = st.unreported](const caf::error&) {
      for (auto& s : *subs)
        caf::anon_send_exit(s.subscription, caf::exit_reason::user_shutdown);
      report(*unreported);
    });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& subs = *self->state.subscriptions;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const session_state::open_stream& s) {
                                return s.subscription.address() == msg.source;
                              }),
               subs.end());
    publish_streams(self->state);
  });
  st.gate = std::move(gate);
  if (st.registration)
    st.registration->set_mailbox_limit(st.gate->limit());
  st.max_in_flight = options.max_in_flight;
  auto idle_timeout = options.idle_timeout;
  st.client = std::move(client);
  st.directory = std::move(directory);
  st.routes = std::move(routes);
  st.idle_timeout = idle_timeout;
  self->delayed_send(self, idle_timeout, tick_atom::value);
  return {
    [=](request_atom, call_ptr& call) {
      handling timed{self->state.registration};
      start_call(self, std::move(call));
    },
    [=](reply_atom, call_ptr& call, model::outcome& result) {
      handling timed{self->state.registration};
      finish_call(self, std::move(call), std::move(result));
    },
    [=](report_atom) {
      handling timed{self->state.registration};
      report(*self->state.unreported);
    },
    [=](tick_atom) {
      handling timed{self->state.registration};
      on_tick(self);
    },
    [=](dropped_atom) {
      auto& st = self->state;
      handling timed{st.registration};
      --st.in_flight;
      if (st.figures)
        st.figures->in_flight.store(st.in_flight, std::memory_order_relaxed);
      if (st.stopping && st.in_flight == 0)
        self->quit();
    },
    [=](reload_atom) {
      handling timed{self->state.registration};
      on_reload(self);
    },
    [=](stop_atom) {
      handling timed{self->state.registration};
      self->state.stopping = true;
      if (self->state.in_flight == 0)
        self->quit();
    },
  };
}

} // namespace prism
