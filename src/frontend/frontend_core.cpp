#include "frontend/frontend_core.hpp"

#include "frontend/request_metadata.hpp"
#include "model/validate.hpp"

namespace prism::frontend {

frontend_core::frontend_core(caf::actor_system& sys,
                             session_directory& sessions,
                             std::shared_ptr<const authenticator> auth,
                             uint64_t answer_bytes_max)
  : sys_(sys), sessions_(sessions), auth_(std::move(auth)),
    answer_bytes_max_(answer_bytes_max) {}

void frontend_core::begin_drain() noexcept {
  draining_.store(true, std::memory_order_seq_cst);
}

int64_t frontend_core::in_flight() const noexcept {
  return in_flight_.load(std::memory_order_acquire);
}

void frontend_core::close() noexcept {
  queues_.close();
}

std::chrono::steady_clock::duration frontend_core::since_last_call()
  const noexcept {
  auto last = std::chrono::steady_clock::duration{
    last_call_.load(std::memory_order_relaxed)};
  return std::chrono::steady_clock::now().time_since_epoch() - last;
}

namespace {

void note_call(std::atomic<int64_t>& last) {
  last.store(std::chrono::steady_clock::now().time_since_epoch().count(),
             std::memory_order_relaxed);
}

} // namespace

void frontend_core::dispatch(grpc::ServerContextBase& ctx,
                             const std::string& ns, model::operation op,
                             std::unique_ptr<call_completion> completion) {
  auto rc = make_request_context(ctx, ns, sys_);
  note_call(last_call_);
  // Count the call before looking at the drain flag: a drain that starts
  // after this point waits for it; one that started before is seen here.
  in_flight_.fetch_add(1, std::memory_order_seq_cst);
  if (draining_.load(std::memory_order_seq_cst)) {
    completion->complete(shutting_down());
    return;
  }
  if (auto st = authenticate(ctx, auth_.get(), rc); !st.ok()) {
    completion->complete(model::outcome{std::move(st), {}});
    return;
  }
  auto rejection = model::validate_request(ns, op);
  model::limit_answer(op, answer_bytes_max_);
  auto call = make_call(std::move(rc), std::move(op), std::move(completion));
  call->rejection = std::move(rejection);
  // One session per client connection and principal.
  const auto& client = session_key(call->context);
  sessions_.dispatch(client, std::move(call));
}

void frontend_core::dispatch_stream(
  grpc::ServerContextBase& ctx, const std::string& ns, model::operation op,
  message_sink_ptr sink, std::unique_ptr<call_completion> completion) {
  auto rc = make_request_context(ctx, ns, sys_);
  note_call(last_call_);
  if (draining_.load(std::memory_order_seq_cst)) {
    sink->finish(shutting_down().status);
    return;
  }
  if (auto st = authenticate(ctx, auth_.get(), rc); !st.ok()) {
    sink->finish(st);
    return;
  }
  auto rejection = model::validate_request(ns, op);
  auto call = make_call(std::move(rc), std::move(op), std::move(completion));
  call->rejection = std::move(rejection);
  call->sink = std::move(sink);
  call->context.deadline = caf::actor_clock::time_point::max();
  const auto& client = session_key(call->context);
  sessions_.dispatch(client, std::move(call));
}

} // namespace prism::frontend
