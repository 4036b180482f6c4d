// The members of JetStream named subscriptions: durable pull consumers.

#include <thread>

#include "drivers/nats/nats_subscriptions.hpp"

namespace prism::drivers::nats_detail {

using namespace nats_tuning;

void pull_member::launch() {
  core->thread_started();
  std::thread([self
               = std::static_pointer_cast<pull_member>(shared_from_this())] {
    self->run();
  }).detach();
}

step pull_member::setup() {
  if (subject.empty())
    return step::fail(status_code::invalid_argument,
                      "topic \"" + topic + "\" of namespace \"" + ns
                        + "\" is not a valid NATS subject (empty token)");
  step st = core->ensure_stream(ns);
  if (st.what != step::done)
    return st;
  jsCtx* js = core->js.load();
  stream_ = nats_names::stream_name(core->settings.stream_prefix, ns);
  durable_ = nats_names::durable_name(topic, name);

  jsConsumerInfo* ci = nullptr;
  jsErrCode code = jsErrCode{};
  natsStatus s = js_GetConsumerInfo(&ci, js, stream_.c_str(), durable_.c_str(),
                                    nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSConsumerNotFoundErr) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    const std::string description
      = "prism subscription " + name + " to " + topic;
    cc.Durable = durable_.c_str();
    cc.Description = description.c_str();
    cc.FilterSubject = subject.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = ack_wait_ms * 1000000;
    cc.DeliverPolicy = start == model::start_position::earliest ? js_DeliverAll
                                                                : js_DeliverNew;
    code = jsErrCode{};
    s = js_AddConsumer(&ci, js, stream_.c_str(), &cc, nullptr, &code);
    if (s != NATS_OK
        && (code == JSConsumerNameExistErr
            || code == JSConsumerExistingActiveErr))
      return step::again("the consumer " + durable_
                         + " was created by another member meanwhile");
    if (s != NATS_OK && code == JSStreamNotFoundErr) {
      core->forget_stream(ns);
      return step::again("the stream " + stream_ + " is gone");
    }
  }
  if (s != NATS_OK)
    return classify(s, code,
                    "cannot set up the JetStream consumer " + durable_
                      + " of stream " + stream_);
  bool pull = ci->Config != nullptr
    && (ci->Config->DeliverSubject == nullptr
        || *ci->Config->DeliverSubject == '\0');
  std::string filter
    = ci->Config && ci->Config->FilterSubject ? ci->Config->FilterSubject : "";
  int64_t ack_wait_ns = ci->Config ? ci->Config->AckWait : 0;
  jsConsumerInfo_Destroy(ci);
  if (!pull || (!filter.empty() && filter != subject))
    return step::fail(status_code::failed_precondition,
                      "the JetStream consumer " + durable_ + " of stream "
                        + stream_ + " exists but is not a pull consumer of "
                        + subject);
  if (ack_wait_ns > 0)
    progress_every_ms_
      = std::max<int64_t>(ack_wait_ns / 1000000 / 3, retry_max_ms / 2);

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream_.c_str();
  so.Consumer = durable_.c_str();
  natsSubscription* sub = nullptr;
  code = jsErrCode{};
  s = js_PullSubscribe(&sub, js, subject.c_str(), durable_.c_str(), nullptr,
                       &so, &code);
  if (s != NATS_OK)
    return classify(s, code,
                    "cannot bind to the JetStream consumer " + durable_);
  sub_ = sub;
  return step::ok();
}

void pull_member::run() {
  // Set up: wait while NATS is down, retry while it fails, end when it
  // fails for good or for too long.
  while (!stopped()) {
    if (!core->connected.load()) {
      failing_.reset();
      pause(defaults::nats_connected_poll_ms);
      continue;
    }
    step st = setup();
    if (st.what == step::done)
      break;
    if (stopped())
      break;
    if (st.what == step::failed
        || failing_.failed_for(core->settings.unavailable_after_ms)) {
      if (st.what != step::failed)
        st.why.message = "could not subscribe for "
          + std::to_string(core->settings.unavailable_after_ms)
          + " ms: " + st.why.message;
      deliver_ended(st.why);
      over_ = true;
      break;
    }
    pause(backoff_ms_);
    backoff_ms_ = std::min(backoff_ms_ * 2, retry_max_ms);
  }
  failing_.reset();
  backoff_ms_ = retry_min_ms;
  if (!over_ && !stopped())
    deliver_ready();
  next_progress_ = steady::now() + milliseconds(progress_every_ms_);

  while (!over_) {
    std::vector<uint64_t> acks;
    int batch = 0;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      wake_.wait_until(lock, std::min(next_progress_, next_lag_), [this] {
        return stop_ || credit_ > 0 || !to_ack_.empty();
      });
      if (stop_)
        break;
      acks.swap(to_ack_);
      batch = static_cast<int>(
        std::min<uint64_t>(credit_, static_cast<uint64_t>(fetch_batch_max)));
    }
    send_acks(acks);
    auto now = steady::now();
    if (now >= next_progress_)
      keep_in_progress();
    if (now >= next_lag_)
      report_lag();
    if (batch == 0)
      continue;
    if (!core->connected.load()) {
      pause(defaults::nats_connected_poll_ms);
      continue;
    }
    fetch(batch);
  }
  finish();
}

void pull_member::fetch(int batch) {
  // First whatever is there now (the server answers at once), and only when
  // there was nothing, a long poll for one message, which returns as soon as
  // it comes. (One long poll for the whole batch would return only when the
  // batch is full or the poll expires.) The long poll asks for heartbeats:
  // a pull request to a consumer that was deleted gets no answer at all,
  // and missing heartbeats are how the member notices.
  jsFetchRequest req;
  jsFetchRequest_Init(&req);
  req.Batch = batch;
  req.NoWait = true;
  req.Expires = fetch_wait_ms * 1000000;
  natsMsgList list{nullptr, 0};
  natsStatus s = natsSubscription_FetchRequest(&list, sub_, &req);
  if (s == NATS_OK) {
    take(list);
    return;
  }
  // A live consumer answers a no-wait request at once (404 when it has
  // nothing); no answer at all is what a deleted one gives.
  if (s == NATS_TIMEOUT && !stopped()) {
    on_fetch_error(s);
    return;
  }
  if (s == NATS_NOT_FOUND && !stopped()) {
    jsFetchRequest_Init(&req);
    req.Batch = 1;
    req.Expires = fetch_wait_ms * 1000000;
    req.Heartbeat = fetch_heartbeat_ms * 1000000;
    s = natsSubscription_FetchRequest(&list, sub_, &req);
    if (s == NATS_OK) {
      take(list);
      return;
    }
  }
  if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
    // Nothing to fetch.
    failing_.reset();
    backoff_ms_ = retry_min_ms;
  } else if (!stopped()) {
    on_fetch_error(s);
  }
}

void pull_member::take(natsMsgList& list) {
  failing_.reset();
  backoff_ms_ = retry_min_ms;
  auto now = steady::now();
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* m = list.Msgs[i];
    list.Msgs[i] = nullptr; // kept until acked, not freed with the list
    uint64_t tag = ++next_tag_;
    held_[tag] = held{m, now};
    model::message out = to_message(m, topic, true, *core);
    out.tag = tag;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      credit_ = credit_ > 0 ? credit_ - 1 : 0;
    }
    // A closing member keeps the rest: finish() gives them back.
    deliver(std::move(out));
  }
  natsMsgList_Destroy(&list);
}

void pull_member::on_fetch_error(natsStatus s) {
  if (s == NATS_CONNECTION_CLOSED || s == NATS_INVALID_SUBSCRIPTION) {
    pause(defaults::nats_connected_poll_ms);
    return;
  }
  // Missed heartbeats, no responders, "409 Consumer Deleted" and the like:
  // is the consumer still there? Gone for good ends the subscription;
  // anything else is retried (NATS restarting, JetStream not ready yet).
  std::string why = error_text(s);
  if (core->connected.load()) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode info_code = jsErrCode{};
    natsStatus is = js_GetConsumerInfo(&ci, core->js.load(), stream_.c_str(),
                                       durable_.c_str(), nullptr, &info_code);
    if (is == NATS_OK) {
      jsConsumerInfo_Destroy(ci);
      // Late heartbeats or a late answer of a busy server, or a pull
      // request lost with a connection: the consumer is fine, so is
      // fetching again.
      if (s == NATS_MISSED_HEARTBEAT || s == NATS_TIMEOUT) {
        failing_.reset();
        return;
      }
    } else if (info_code == JSConsumerNotFoundErr
               || info_code == JSStreamNotFoundErr) {
      if (info_code == JSStreamNotFoundErr)
        core->forget_stream(ns);
      deliver_ended(prism::status::failure(
        status_code::unavailable,
        "the JetStream consumer " + durable_ + " of stream " + stream_
          + " no longer exists (deleted on the server); subscribe again to "
            "create it"));
      over_ = true;
      return;
    }
    if (failing_.failed_for(core->settings.unavailable_after_ms)) {
      deliver_ended(prism::status::failure(
        status_code::unavailable,
        "fetching from the JetStream consumer " + durable_ + " failed for "
          + std::to_string(core->settings.unavailable_after_ms)
          + " ms: " + why));
      over_ = true;
      return;
    }
  } else {
    failing_.reset();
  }
  pause(backoff_ms_);
  backoff_ms_ = std::min(backoff_ms_ * 2, retry_max_ms);
}

void pull_member::send_acks(const std::vector<uint64_t>& tags) {
  for (uint64_t tag : tags) {
    auto it = held_.find(tag);
    if (it == held_.end())
      continue;
    natsMsg_Ack(it->second.msg, nullptr);
    natsMsg_Destroy(it->second.msg);
    held_.erase(it);
  }
}

void pull_member::keep_in_progress() {
  auto now = steady::now();
  auto older_than = now - milliseconds(progress_every_ms_);
  for (auto& [tag, h] : held_)
    if (h.delivered_at <= older_than)
      natsMsg_InProgress(h.msg, nullptr);
  next_progress_ = now + milliseconds(progress_every_ms_);
}

void pull_member::report_lag() {
  next_lag_ = steady::now() + pubsub_driver::lag_report_interval;
  if (!core->connected.load())
    return;
  jsOptions wait;
  jsOptions_Init(&wait);
  wait.Wait = lag_query_wait_ms;
  jsConsumerInfo* ci = nullptr;
  jsErrCode code = jsErrCode{};
  natsStatus s = js_GetConsumerInfo(&ci, core->js.load(), stream_.c_str(),
                                    durable_.c_str(), &wait, &code);
  if (s != NATS_OK)
    return; // fetching notices a consumer that is gone
  uint64_t lag = ci->NumPending
    + static_cast<uint64_t>(std::max<int64_t>(ci->NumAckPending, 0));
  jsConsumerInfo_Destroy(ci);
  deliver_lag(lag);
}

void pull_member::finish() {
  std::vector<uint64_t> acks;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    acks.swap(to_ack_);
  }
  send_acks(acks);
  // What was delivered but not acknowledged goes back for redelivery now,
  // rather than after the ack wait. The last one waits for the server's
  // answer (no longer than nats_nak_confirm_wait_ms), so the consumer has
  // taken them all back when the member is gone.
  jsOptions wait;
  jsOptions_Init(&wait);
  wait.Wait = defaults::nats_nak_confirm_wait_ms;
  size_t left = held_.size();
  for (auto& [tag, h] : held_) {
    bool last = --left == 0 && core->connected.load();
    natsMsg_Nak(h.msg, last ? &wait : nullptr);
    natsMsg_Destroy(h.msg);
  }
  held_.clear();
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }
  core->thread_finished();
}

} // namespace prism::drivers::nats_detail
