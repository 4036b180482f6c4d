#include "drivers/nats/nats_driver.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "drivers/nats/nats_names.hpp"
#include "drivers/nats/nats_subscriptions.hpp"

namespace prism::drivers {

namespace {

using namespace nats_tuning;
using namespace nats_detail;

// --- the subscription handle -----------------------------------------------

class nats_subscription final : public pubsub_driver::subscription {
public:
  explicit nats_subscription(std::shared_ptr<sub_state> s)
    : state_(std::move(s)) {}
  ~nats_subscription() override { state_->shutdown(); }

  void request(uint32_t n) override { state_->request(n); }
  void ack(uint64_t tag) override { state_->ack(tag); }

private:
  std::shared_ptr<sub_state> state_;
};

// --- worker threads --------------------------------------------------------

/// Runs jobs one at a time on its own thread; a job returns a delay after
/// which it runs again, or nothing when it is done. stop() drops what is
/// left.
class control_thread {
public:
  using job = std::function<std::optional<int64_t>()>;

  control_thread() : thread_([this] { run(); }) {}
  ~control_thread() { stop(); }

  void post(job j) {
    std::lock_guard<std::mutex> lock{mutex_};
    ready_.push_back(std::move(j));
    wake_.notify_all();
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      stop_ = true;
      wake_.notify_all();
    }
    if (thread_.joinable())
      thread_.join();
    ready_.clear();
    later_.clear();
  }

private:
  void run() {
    std::unique_lock<std::mutex> lock{mutex_};
    while (!stop_) {
      auto now = steady::now();
      while (!later_.empty() && later_.begin()->first <= now) {
        ready_.push_back(std::move(later_.begin()->second));
        later_.erase(later_.begin());
      }
      if (ready_.empty()) {
        if (later_.empty())
          wake_.wait(lock);
        else
          wake_.wait_until(lock, later_.begin()->first);
        continue;
      }
      job j = std::move(ready_.front());
      ready_.pop_front();
      lock.unlock();
      std::optional<int64_t> again = j();
      lock.lock();
      if (again)
        later_.emplace(steady::now() + milliseconds(*again), std::move(j));
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> ready_;
  std::multimap<time_point, job> later_;
  bool stop_ = false;
  std::thread thread_;
};

// --- the driver ------------------------------------------------------------

class nats_driver final : public pubsub_driver {
public:
  nats_driver(nats_settings settings, std::shared_ptr<wall_clock> clock);
  ~nats_driver() override;

  nats_driver(const nats_driver&) = delete;
  nats_driver& operator=(const nats_driver&) = delete;

  void start(state_listener listener) override;
  void publish(const std::string& ns, const model::publish_op& op,
               op_timeout timeout, completion done) override;
  std::unique_ptr<subscription> subscribe(const std::string& ns,
                                          const model::subscribe_op& op,
                                          subscriber_events events) override;
  std::string describe() const override {
    return "nats " + core_->settings.target;
  }

  uint64_t slow_consumer_drops() const {
    uint64_t n = core_->dropped_by_closed_subs.load();
    for (auto& s : core_->live_subs())
      n += s->dropped();
    return n;
  }

private:
  std::optional<int64_t> connect();
  void run_publisher();
  void publish_batch(std::vector<publish_job>& batch);
  /// Checks a job before it is sent: answers it and returns false when it
  /// cannot be.
  bool admissible(publish_job& job, const std::string& subject);

  std::shared_ptr<nats_core> core_;
  natsOptions* options_ = nullptr;
  bool started_ = false;

  std::mutex publish_mutex_;
  std::condition_variable publish_wake_;
  std::deque<publish_job> publish_queue_;
  bool publisher_stop_ = false;
  std::thread publisher_;

  control_thread control_;
};

void check(natsStatus s, const std::string& backend, const char* what) {
  if (s != NATS_OK)
    throw std::runtime_error("backend \"" + backend + "\": nats.c refused "
                             + what + ": " + error_text(s));
}

nats_driver::nats_driver(nats_settings settings,
                         std::shared_ptr<wall_clock> clock)
  : core_(std::make_shared<nats_core>(std::move(settings), std::move(clock))) {
  core_->handle = closures<nats_core>::instance().add(core_);
  const auto& st = core_->settings;
  natsOptions* o = nullptr;
  check(natsOptions_Create(&o), st.backend, "to make connection options");
  options_ = o;
  // natsOptions_SetURL takes one URL; a comma-separated list is a server
  // list.
  std::vector<std::string> urls;
  for (size_t start = 0; start <= st.url.size();) {
    size_t end = std::min(st.url.find(',', start), st.url.size());
    std::string url = st.url.substr(start, end - start);
    url.erase(0, url.find_first_not_of(" \t"));
    url.erase(url.find_last_not_of(" \t") + 1);
    if (!url.empty())
      urls.push_back(std::move(url));
    start = end + 1;
  }
  if (urls.empty())
    throw std::runtime_error("backend \"" + st.backend
                             + "\": no NATS server URL in \"" + st.target
                             + "\"");
  std::vector<const char*> servers;
  for (auto& u : urls)
    servers.push_back(u.c_str());
  check(
    natsOptions_SetServers(o, servers.data(), static_cast<int>(servers.size())),
    st.backend, ("the url " + st.target).c_str());
  check(natsOptions_SetName(o, ("prism " + st.backend).c_str()), st.backend,
        "the connection name");
  check(natsOptions_SetTimeout(o, st.connect_timeout_ms), st.backend,
        "connect_timeout_ms");
  check(natsOptions_SetMaxReconnect(o, -1), st.backend, "reconnecting forever");
  check(natsOptions_SetReconnectWait(o, reconnect_wait_ms), st.backend,
        "the reconnect wait");
  check(
    natsOptions_SetReconnectJitter(o, reconnect_jitter_ms, reconnect_jitter_ms),
    st.backend, "the reconnect jitter");
  check(natsOptions_SetPingInterval(o, ping_interval_ms), st.backend,
        "the ping interval");
  check(natsOptions_SetMaxPingsOut(o, max_pings_out), st.backend,
        "the pings out");
  // JetStream API requests in flight fail at once when the connection
  // breaks, rather than after their timeout.
  check(natsOptions_SetFailRequestsOnDisconnect(o, true), st.backend,
        "failing requests on disconnect");
  if (!st.token.empty())
    check(natsOptions_SetToken(o, st.token.c_str()), st.backend, "the token");
  check(natsOptions_SetDisconnectedCB(o, on_disconnected, core_->handle),
        st.backend, "the disconnected callback");
  check(natsOptions_SetReconnectedCB(o, on_connected, core_->handle),
        st.backend, "the reconnected callback");
  check(natsOptions_SetClosedCB(o, on_closed, core_->handle), st.backend,
        "the closed callback");
  check(
    natsOptions_SetRetryOnFailedConnect(o, true, on_connected, core_->handle),
    st.backend, "retrying the first connect");
  publisher_ = std::thread([this] { run_publisher(); });
}

nats_driver::~nats_driver() {
  core_->stopping.store(true);
  // 1. No more publishes go out; what is queued stays queued.
  {
    std::lock_guard<std::mutex> lock{publish_mutex_};
    publisher_stop_ = true;
    publish_wake_.notify_all();
  }
  if (publisher_.joinable())
    publisher_.join();
  // 2. Subscriptions stop delivering; JetStream members ack and give back
  // what they hold while the connection is still there.
  for (auto& s : core_->live_subs())
    s->shutdown();
  core_->wait_for_threads();
  // 3. No more setups (a connect attempt in progress finishes first).
  control_.stop();
  // 4. No callback of the driver runs from here on; what is left is
  // answered here.
  core_->gate.close();
  for (auto& job : publish_queue_)
    job.done(model::outcome::failure(status_code::unavailable,
                                     "the NATS driver is shutting down; the "
                                     "message was not published"));
  publish_queue_.clear();
  for (auto& a : core_->take_all_acks())
    a.done(model::outcome::failure(status_code::unavailable,
                                   "the NATS driver is shutting down before "
                                   "JetStream acknowledged the message; it may "
                                   "or may not have been stored"));
  // 5. Close the connection, after sending what is buffered (acks, naks).
  closures<nats_core>::instance().remove(core_->handle);
  natsConnection* nc = core_->nc.exchange(nullptr);
  jsCtx* js = core_->js.exchange(nullptr);
  if (nc != nullptr) {
    if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED)
      natsConnection_FlushTimeout(nc, defaults::nats_close_flush_wait_ms);
    natsConnection_Close(nc);
  }
  if (js != nullptr)
    jsCtx_Destroy(js);
  if (nc != nullptr)
    natsConnection_Destroy(nc);
  natsOptions_Destroy(options_);
}

void nats_driver::start(state_listener listener) {
  core_->set_listener(std::move(listener));
  if (started_)
    return;
  started_ = true;
  control_.post([this] { return connect(); });
}

std::optional<int64_t> nats_driver::connect() {
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, options_);
  std::string reason = "cannot connect to NATS at " + core_->settings.target;
  std::string detail = s == NATS_NOT_YET_CONNECTED ? connection_error(nc)
                                                   : std::string{};
  if (!detail.empty())
    reason += detail;
  else if (s == NATS_NOT_YET_CONNECTED)
    reason += ": no server available (retrying in the background)";
  else
    reason += ": " + error_text(s);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    // Not even a connection object (e.g. a URL nats.c cannot parse): report
    // it, and try again now and then.
    core_->report_first(reason);
    return retry_max_ms;
  }
  if (core_->settings.jetstream) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = api_wait_ms;
    jo.PublishAsync.AckHandler = on_publish_ack;
    jo.PublishAsync.AckHandlerClosure = core_->handle;
    jsCtx* js = nullptr;
    if (natsConnection_JetStream(&js, nc, &jo) == NATS_OK)
      core_->js.store(js);
  }
  core_->nc.store(nc);
  core_->report_first(reason);
  return std::nullopt;
}

void nats_driver::publish(const std::string& ns, const model::publish_op& op,
                          op_timeout timeout, completion done) {
  uint32_t limit = std::max<uint32_t>(core_->settings.max_pending, 1);
  if (core_->in_flight.fetch_add(1) >= limit) {
    core_->in_flight.fetch_sub(1);
    auto o = model::outcome::failure(
      status_code::resource_exhausted,
      std::to_string(limit) + " publishes to NATS are already in flight "
        + "(max_pending of backend " + core_->settings.backend + ")");
    o.status.retry_after_ms = defaults::nats_publish_retry_after_ms;
    done(std::move(o));
    return;
  }
  publish_job job{ns, op, deadline_after(timeout), std::move(done)};
  std::lock_guard<std::mutex> lock{publish_mutex_};
  publish_queue_.push_back(std::move(job));
  publish_wake_.notify_all();
}

void nats_driver::run_publisher() {
  std::vector<publish_job> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock{publish_mutex_};
      publish_wake_.wait(
        lock, [this] { return publisher_stop_ || !publish_queue_.empty(); });
      if (publisher_stop_)
        return;
      while (!publish_queue_.empty()
             && batch.size() < defaults::nats_publish_batch_max_count) {
        batch.push_back(std::move(publish_queue_.front()));
        publish_queue_.pop_front();
      }
    }
    publish_batch(batch);
    batch.clear();
  }
}

bool nats_driver::admissible(publish_job& job, const std::string& subject) {
  if (subject.empty()) {
    core_->answer(job.done,
                  model::outcome::failure(
                    status_code::invalid_argument,
                    "topic \"" + job.op.topic + "\" of namespace \"" + job.ns
                      + "\" cannot be a NATS subject (empty token)"));
    return false;
  }
  if (steady::now() >= job.deadline) {
    core_->answer(
      job.done,
      model::outcome::failure(status_code::deadline_exceeded,
                              "the deadline passed before the message was "
                              "sent to NATS; it was not published"));
    return false;
  }
  if (!core_->connected.load() || core_->nc.load() == nullptr) {
    auto o = model::outcome::failure(status_code::unavailable,
                                     "not connected to NATS at "
                                       + core_->settings.target
                                       + "; the message was not published");
    o.status.retry_after_ms = static_cast<uint32_t>(reconnect_wait_ms);
    core_->answer(job.done, std::move(o));
    return false;
  }
  return true;
}

/// A publish nats.c would not send.
model::outcome send_failure(natsStatus s, natsConnection* nc,
                            const std::string& fate) {
  if (s == NATS_MAX_PAYLOAD)
    return model::outcome::failure(
      status_code::invalid_argument,
      "the message is larger than the NATS server accepts (max_payload "
        + std::to_string(natsConnection_GetMaxPayload(nc))
        + " bytes, headers included); it was not published");
  return model::outcome::failure(status_code::unavailable,
                                 "cannot publish to NATS: " + error_text(s)
                                   + "; " + fate);
}

void nats_driver::publish_batch(std::vector<publish_job>& batch) {
  const auto& st = core_->settings;
  natsConnection* nc = core_->nc.load();
  // Core NATS: the messages written, answered after one flush.
  std::vector<std::pair<publish_job*, std::string>> flushed;
  for (auto& job : batch) {
    std::string subject
      = nats_names::subject(st.subject_prefix, job.ns, job.op.topic);
    if (!admissible(job, subject))
      continue;
    if (job.op.payload.size() > static_cast<size_t>(INT32_MAX)) {
      core_->answer(
        job.done,
        model::outcome::failure(status_code::invalid_argument,
                                "the payload is too large for NATS"));
      continue;
    }
    if (st.jetstream) {
      step ready = core_->ensure_stream(job.ns, job.deadline);
      if (ready.what != step::done) {
        auto why = ready.why;
        why.message = core_->mask(why.message)
          + "; the message was not "
            "published";
        core_->answer(job.done, model::outcome{why, {}});
        continue;
      }
    }
    natsStatus s = NATS_OK;
    std::string id = core_->next_message_id();
    natsMsg* msg = make_message(subject, job.op, id, core_->clock->now_ms(), s);
    if (msg == nullptr) {
      core_->answer(job.done,
                    model::outcome::failure(status_code::invalid_argument,
                                            "cannot make a NATS message of it: "
                                              + error_text(s)));
      continue;
    }
    if (!st.jetstream) {
      s = natsConnection_PublishMsg(nc, msg);
      natsMsg_Destroy(msg);
      if (s != NATS_OK) {
        core_->answer(job.done, send_failure(s, nc, "it was not published"));
        continue;
      }
      flushed.emplace_back(&job, std::move(id));
      continue;
    }
    const int64_t left_ms = ms_until(job.deadline);
    int64_t max_wait = std::min(left_ms, publish_ack_wait_max_ms);
    max_wait = std::max<int64_t>(max_wait, 1);
    natsMsg* key = msg;
    core_->expect_ack(key,
                      awaiting_ack{job.ns, job.deadline, max_wait,
                                   left_ms <= publish_ack_wait_max_ms,
                                   std::move(job.done)});
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = max_wait;
    s = js_PublishMsgAsync(core_->js.load(), &msg, &po);
    if (s != NATS_OK) {
      // nats.c did not take it: no acknowledgment will come.
      natsMsg_Destroy(msg);
      if (auto a = core_->take_ack(key))
        core_->answer(
          a->done, send_failure(s, nc, "it may or may not have been stored"));
    }
  }
  if (flushed.empty())
    return;
  int64_t wait = 1;
  for (auto& [job, id] : flushed)
    wait = std::max(wait,
                    std::min(ms_until(job->deadline), publish_ack_wait_max_ms));
  // A job whose deadline comes within the wait: a timeout of the flush means
  // its deadline ran out (nats.c waits whole milliseconds, so the flush may
  // end a little before it).
  std::vector<bool> ends_within;
  ends_within.reserve(flushed.size());
  for (auto& [job, id] : flushed)
    ends_within.push_back(ms_until(job->deadline) <= wait);
  natsStatus s = natsConnection_FlushTimeout(nc, wait);
  size_t index = 0;
  for (auto& [job, id] : flushed) {
    const bool deadline_ran_out = ends_within[index++];
    if (s == NATS_OK) {
      model::publish_result r;
      r.message_id = id;
      core_->answer(job->done, model::outcome::success(std::move(r)));
    } else if ((s == NATS_TIMEOUT && deadline_ran_out)
               || steady::now() >= job->deadline) {
      core_->answer(job->done,
                    model::outcome::failure(
                      status_code::deadline_exceeded,
                      "the deadline passed before NATS confirmed the "
                      "message; it may or may not have reached the server"));
    } else {
      core_->answer(job->done,
                    model::outcome::failure(
                      status_code::unavailable,
                      "NATS did not confirm the message: " + error_text(s)
                        + "; it may or may not have reached the server"));
    }
  }
}

std::unique_ptr<pubsub_driver::subscription> nats_driver::subscribe(
  const std::string& ns, const model::subscribe_op& op,
  subscriber_events events) {
  const bool named = !op.subscription.empty();
  std::shared_ptr<sub_state> state;
  if (core_->settings.jetstream && named) {
    auto member
      = std::make_shared<pull_member>(core_, ns, op, std::move(events));
    core_->add_sub(member);
    member->launch();
    state = member;
  } else {
    // With JetStream every ephemeral subscriber reads the stream through an
    // ordered consumer, so it sees exactly what was stored, with the ids
    // Publish answered.
    auto kind = named             ? push_sub::kind::queue
      : core_->settings.jetstream ? push_sub::kind::ordered
                                  : push_sub::kind::plain;
    auto sub
      = std::make_shared<push_sub>(core_, ns, op, std::move(events), kind);
    sub->register_closure();
    core_->add_sub(sub);
    control_.post([sub] { return sub->setup_step(); });
    state = sub;
  }
  return std::make_unique<nats_subscription>(std::move(state));
}

} // namespace

pubsub_driver_ptr make_nats_driver(const config::backend& backend,
                                   std::shared_ptr<wall_clock> clock) {
  if (!clock)
    clock = system_wall_clock();
  return std::make_unique<nats_driver>(settings_of(backend), std::move(clock));
}

uint64_t slow_consumer_drops(const pubsub_driver& driver) {
  if (auto* d = dynamic_cast<const nats_driver*>(&driver))
    return d->slow_consumer_drops();
  return 0;
}

} // namespace prism::drivers
