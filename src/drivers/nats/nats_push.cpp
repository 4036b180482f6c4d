// Push subscriptions: core NATS subscriptions (plain or queue group) and
// ordered JetStream consumers.

#include "drivers/nats/nats_subscriptions.hpp"

namespace prism::drivers::nats_detail {

using namespace nats_tuning;

namespace {

void on_push_message(natsConnection*, natsSubscription*, natsMsg* msg,
                     void* closure) {
  if (auto sub = closures<push_sub>::instance().find(closure))
    sub->on_message(msg);
  natsMsg_Destroy(msg);
}

} // namespace

void push_sub::register_closure() {
  handle_ = closures<push_sub>::instance().add(
    std::static_pointer_cast<push_sub>(shared_from_this()));
}

void push_sub::on_message(natsMsg* m) {
  model::message out = to_message(m, topic, kind_ == kind::ordered, *core);
  if (kind_ == kind::queue)
    out.tag = ++next_tag_;
  deliver(std::move(out));
}

void push_sub::shutdown() {
  close_gate();
  natsSubscription* s = nullptr;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    if (shut_)
      return;
    shut_ = true;
    s = sub_;
    sub_ = nullptr;
  }
  if (s != nullptr) {
    int64_t n = 0;
    if (natsSubscription_GetDropped(s, &n) == NATS_OK && n > 0)
      core->dropped_by_closed_subs.fetch_add(static_cast<uint64_t>(n));
    // Destroy unsubscribes. (Unsubscribe would also delete an ordered
    // consumer, a JetStream request that can block; the server removes
    // it by itself once nobody listens.)
    natsSubscription_Destroy(s);
  }
  closures<push_sub>::instance().remove(handle_);
}

uint64_t push_sub::dropped() {
  std::lock_guard<std::mutex> lock{mutex_};
  int64_t n = 0;
  if (sub_ != nullptr && natsSubscription_GetDropped(sub_, &n) == NATS_OK)
    return static_cast<uint64_t>(n);
  return 0;
}

bool push_sub::keep(natsSubscription* s) {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    if (!shut_) {
      sub_ = s;
      return true;
    }
  }
  natsSubscription_Destroy(s);
  return false;
}

bool push_sub::is_shut() {
  std::lock_guard<std::mutex> lock{mutex_};
  return shut_;
}

std::optional<int64_t> push_sub::retry_or_end(const step& st) {
  if (st.what == step::failed) {
    deliver_ended(st.why);
    return std::nullopt;
  }
  if (!core->connected.load()) {
    failing_.reset();
    return defaults::nats_connected_poll_ms;
  }
  if (failing_.failed_for(core->settings.unavailable_after_ms)) {
    deliver_ended(prism::status::failure(
      status_code::unavailable,
      "could not subscribe to " + subject + " for "
        + std::to_string(core->settings.unavailable_after_ms)
        + " ms: " + st.why.message));
    return std::nullopt;
  }
  return defaults::nats_subscribe_retry_ms;
}

std::optional<int64_t> push_sub::setup_step() {
  if (is_shut())
    return std::nullopt;
  if (subject.empty()) {
    deliver_ended(prism::status::failure(
      status_code::invalid_argument,
      "topic \"" + topic + "\" of namespace \"" + ns
        + "\" is not a valid NATS subject (empty token)"));
    return std::nullopt;
  }
  natsConnection* nc = core->nc.load();
  if (nc == nullptr)
    return defaults::nats_connected_poll_ms;

  if (!subscribed_) {
    natsSubscription* s = nullptr;
    natsStatus status = NATS_OK;
    if (kind_ == kind::ordered) {
      if (!core->connected.load())
        return retry_or_end(step::again("not connected"));
      step st = core->ensure_stream(ns);
      if (st.what != step::done)
        return retry_or_end(st);
      const std::string stream
        = nats_names::stream_name(core->settings.stream_prefix, ns);
      jsSubOptions so;
      jsSubOptions_Init(&so);
      so.Stream = stream.c_str();
      so.Ordered = true;
      so.Config.DeliverPolicy = start == model::start_position::earliest
        ? js_DeliverAll
        : js_DeliverNew;
      jsErrCode code = jsErrCode{};
      status = js_Subscribe(&s, core->js.load(), subject.c_str(),
                            on_push_message, handle_, nullptr, &so, &code);
      if (status != NATS_OK)
        return retry_or_end(classify(
          status, code, "cannot create an ordered consumer on " + subject));
    } else if (kind_ == kind::queue) {
      status = natsConnection_QueueSubscribe(
        &s, nc, subject.c_str(), name.c_str(), on_push_message, handle_);
    } else {
      status = natsConnection_Subscribe(&s, nc, subject.c_str(),
                                        on_push_message, handle_);
    }
    if (status != NATS_OK)
      return retry_or_end(step::again("cannot subscribe to " + subject + ": "
                                      + error_text(status)));
    if (!keep(s))
      return std::nullopt;
    subscribed_ = true;
  }

  // An ordered consumer is in place once created; a core subscription once
  // the server has processed it, which a flush round trip confirms.
  if (kind_ != kind::ordered) {
    if (!core->connected.load())
      return retry_or_end(step::again("not connected"));
    natsStatus status = natsConnection_FlushTimeout(nc, api_wait_ms);
    if (status != NATS_OK)
      return retry_or_end(step::again("cannot confirm the subscription to "
                                      + subject + ": " + error_text(status)));
  }
  failing_.reset();
  deliver_ready();
  return std::nullopt;
}

} // namespace prism::drivers::nats_detail
