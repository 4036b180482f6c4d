#pragma once

// A call is one client request on its way through the pipeline. It is handed
// from actor to actor (session -> stages -> router -> pool -> connection ->
// session): exactly one actor owns it at a time, and whoever sends it on gives
// it up. It completes exactly once; a call that is dropped anywhere (its
// holder dies, a message goes to a dead actor) completes itself with
// UNAVAILABLE when its last reference goes, so no client is left waiting.

#include <atomic>
#include <memory>
#include <string>

#include <caf/actor_clock.hpp>
#include <caf/ref_counted.hpp>

#include "drivers/driver.hpp"
#include "model/operation.hpp"
#include "runtime/completion.hpp"
#include "runtime/hops.hpp"
#include "runtime/protocols.hpp"
#include "runtime/route.hpp"

namespace prism {

class audit_slot;

/// What the client asked, and who asks.
struct request_context {
  std::string request_id;
  std::string ns;
  std::string principal;
  std::string peer;
  /// W3C traceparent, carried into logs and audit lines when present.
  std::string traceparent;
  /// Time points on the actor clock.
  caf::actor_clock::time_point received_at;
  caf::actor_clock::time_point deadline = caf::actor_clock::time_point::max();
};

class kv_call final : public caf::ref_counted {
public:
  kv_call(request_context context, model::operation op,
          std::unique_ptr<call_completion> completion);
  ~kv_call() override;

  kv_call(const kv_call&) = delete;
  kv_call& operator=(const kv_call&) = delete;

  request_context context;
  drivers::operation_ptr operation;

  /// Set by the front end when the request is malformed: the session answers
  /// with it at once (after attaching the route, so stages still see it).
  status rejection;

  /// Subscribe calls: the stream the front end opened, and the subscription
  /// actor the session started for it.
  message_sink_ptr sink;
  subscription_actor subscriber;

  // Filled in on the way.
  session_actor session;
  route_ptr path;
  size_t next_stage = 0;
  std::string backend;
  /// Room the audit stage reserved for the call's line (namespaces with
  /// audit_required); given back if the call ends without its line.
  std::shared_ptr<audit_slot> audit_reservation;

  /// Each actor that took the call, and when (the slow log's source).
  call_hops hops;

  // Filled in on completion, for stages that observe outcomes.
  status_code final_code = status_code::ok;
  caf::actor_clock::time_point completed_at;

  bool expired(caf::actor_clock::time_point now) const noexcept {
    return now >= context.deadline;
  }

  /// Hands the outcome to the client. Later calls are ignored (and counted as
  /// a bug by returning false).
  bool complete(model::outcome&& result);
  /// The same, through call_completion::complete_soon: for the session's
  /// answers, never from a path that may block afterwards (a destructor
  /// that waits for a driver, the main thread).
  bool complete_soon(model::outcome&& result);

  bool completed() const noexcept {
    return completed_.load(std::memory_order_acquire);
  }

private:
  /// The first call of complete or complete_soon hands `result` on.
  bool deliver(model::outcome&& result, bool soon);

  std::unique_ptr<call_completion> completion_;
  std::atomic<bool> completed_{false};
};

call_ptr make_call(request_context context, model::operation op,
                   std::unique_ptr<call_completion> completion);

} // namespace prism
