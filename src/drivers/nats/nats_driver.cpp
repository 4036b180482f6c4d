#include "drivers/nats/nats_driver.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "drivers/nats/nats_names.hpp"

namespace prism::drivers {

namespace {

using namespace nats_tuning;
using steady = std::chrono::steady_clock;
using time_point = steady::time_point;
using std::chrono::milliseconds;

/// How often a thread waiting for the connection looks again.
constexpr int64_t connected_poll_ms = 100;
/// Publishes the publisher thread takes from its queue at once (core NATS:
/// they share one flush).
constexpr size_t publish_batch_max = 256;
/// Credit a member may hold; more is clamped (it only bounds a counter).
constexpr uint64_t credit_max = uint64_t{1} << 32;
/// How long a member going away waits for the server to confirm it took
/// back the messages it held.
constexpr int64_t nak_confirm_wait_ms = 1000;

int64_t ms_until(time_point t) {
  if (t == time_point::max())
    return std::numeric_limits<int64_t>::max();
  return std::chrono::duration_cast<milliseconds>(t - steady::now()).count();
}

time_point deadline_after(op_timeout timeout) {
  auto now = steady::now();
  if (timeout == no_timeout || timeout > std::chrono::hours(24 * 365))
    return time_point::max();
  if (timeout < op_timeout::zero())
    return now;
  return now + std::chrono::duration_cast<steady::duration>(timeout);
}

/// The text of the error nats.c reported last on this thread, else the
/// status's own text.
std::string error_text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  if (s != NATS_OK && last != nullptr && *last != '\0')
    return last;
  return natsStatus_GetText(s);
}

// --- callback gate ---------------------------------------------------------

/// Runs callbacks one at a time until closed. close() waits for the one
/// running, unless it is called from inside it (a callback that destroys its
/// own subscription).
class callback_gate {
public:
  template <class F>
  bool run(F&& f) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (closed_)
      return false;
    runner_.store(std::this_thread::get_id());
    struct reset {
      std::atomic<std::thread::id>& r;
      ~reset() { r.store(std::thread::id{}); }
    } reset_runner{runner_};
    f();
    return true;
  }

  void close() {
    if (runner_.load() == std::this_thread::get_id()) {
      closed_ = true; // this thread holds mutex_ (inside run)
      return;
    }
    std::lock_guard<std::mutex> lock{mutex_};
    closed_ = true;
  }

private:
  std::mutex mutex_;
  bool closed_ = false;
  std::atomic<std::thread::id> runner_{};
};

// --- closures --------------------------------------------------------------

/// nats.c calls back with a void* closure, possibly after the object it
/// meant is gone (a delivery thread finishing a callback, an acknowledgment
/// arriving after the driver closed). So closures are numbers, looked up
/// here; a number whose object is gone finds nothing.
template <class T>
class closures {
public:
  static closures& instance() {
    // Never destroyed: nats.c threads may call back during process exit.
    static auto* r = new closures;
    return *r;
  }

  void* add(const std::shared_ptr<T>& object) {
    std::lock_guard<std::mutex> lock{mutex_};
    uint64_t id = ++next_;
    objects_[id] = object;
    return reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  }

  std::shared_ptr<T> find(void* closure) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = objects_.find(reinterpret_cast<uintptr_t>(closure));
    return it == objects_.end() ? nullptr : it->second.lock();
  }

  void remove(void* closure) {
    std::lock_guard<std::mutex> lock{mutex_};
    objects_.erase(reinterpret_cast<uintptr_t>(closure));
  }

private:
  std::mutex mutex_;
  uint64_t next_ = 0;
  std::unordered_map<uint64_t, std::weak_ptr<T>> objects_;
};

// --- settings --------------------------------------------------------------

struct nats_settings {
  std::string backend;
  std::string url;
  /// url without user information, for messages and describe().
  std::string target;
  bool jetstream = true;
  std::string subject_prefix;
  std::string stream_prefix;
  uint64_t stream_max_age_ms = 0;
  uint64_t stream_max_bytes = 0;
  uint32_t connect_timeout_ms = 0;
  std::string token;
  uint32_t max_pending = 0;
  uint32_t unavailable_after_ms = 0;
};

/// What one attempt at a setup step came to.
struct step {
  enum kind { done, retry, failed } what = done;
  prism::status why;

  static step ok() { return {}; }
  static step again(std::string reason) {
    return {retry, prism::status::failure(status_code::unavailable,
                                          std::move(reason))};
  }
  static step fail(status_code code, std::string reason) {
    return {failed, prism::status::failure(code, std::move(reason))};
  }
};

/// JetStream API errors worth retrying: the server (or its JetStream) is
/// starting, stopping or busy.
bool transient(jsErrCode code) {
  return code == 0 || code == JSClusterNotAvailErr
         || code == JSClusterNotLeaderErr || code == JSNotEnabledErr
         || code == JSInsufficientResourcesErr;
}

step classify(natsStatus s, jsErrCode code, const std::string& what) {
  std::string text = what + ": " + error_text(s);
  if (code != 0)
    text += " (JetStream error " + std::to_string(code) + ")";
  if (!transient(code))
    return step::fail(code == JSNotEnabledForAccountErr
                          ? status_code::failed_precondition
                          : status_code::unavailable,
                      text);
  return step::again(text);
}

/// Since when a retried step keeps failing while NATS is connected.
class failure_clock {
public:
  void reset() { since_.reset(); }
  /// Notes a failure; true once failures have lasted `limit_ms`.
  bool failed_for(uint32_t limit_ms) {
    auto now = steady::now();
    if (!since_)
      since_ = now;
    return now - *since_ >= milliseconds(limit_ms);
  }

private:
  std::optional<time_point> since_;
};

// --- the shared core -------------------------------------------------------

struct publish_job {
  std::string ns;
  model::publish_op op;
  time_point deadline = time_point::max();
  pubsub_driver::completion done;
};

/// A JetStream publish sent and waiting for its acknowledgment.
struct awaiting_ack {
  std::string ns;
  time_point deadline = time_point::max();
  int64_t max_wait_ms = 0;
  pubsub_driver::completion done;
};

class sub_state;

/// What the driver, its subscriptions and nats.c's callbacks share. The
/// connection lives as long as the driver; subscriptions that outlive it
/// are shut down by it first.
class nats_core : public std::enable_shared_from_this<nats_core> {
public:
  nats_core(nats_settings s, std::shared_ptr<wall_clock> c)
    : settings(std::move(s)), clock(std::move(c)),
      id_prefix(std::to_string(clock->now_ms()) + "-") {}

  const nats_settings settings;
  const std::shared_ptr<wall_clock> clock;
  /// "<driver start ms>-": core NATS message ids continue it with a counter.
  const std::string id_prefix;
  std::atomic<uint64_t> next_id{0};
  /// This core's closure for nats.c's connection and JetStream callbacks.
  void* handle = nullptr;

  std::atomic<natsConnection*> nc{nullptr};
  std::atomic<jsCtx*> js{nullptr};
  std::atomic<bool> connected{false};
  std::atomic<bool> stopping{false};

  /// The state listener and publish completions pass here; the driver's
  /// destructor closes it.
  callback_gate gate;

  /// Replaces the token in `text` by "***" (nats.c's messages should never
  /// hold it; this makes sure).
  std::string mask(std::string text) const {
    const auto& t = settings.token;
    if (t.empty())
      return text;
    for (size_t at = text.find(t); at != std::string::npos;
         at = text.find(t, at + 3))
      text.replace(at, t.size(), "***");
    return text;
  }

  std::string next_message_id() {
    return id_prefix + std::to_string(++next_id);
  }

  // --- connection state ---

  void set_listener(pubsub_driver::state_listener l) {
    std::lock_guard<std::mutex> lock{state_mutex_};
    listener_ = std::move(l);
  }

  /// The first report: the connection as it is now (again after a connect
  /// attempt that got no connection object, when that changes it).
  void report_first(const std::string& reason_if_down) {
    std::lock_guard<std::mutex> lock{state_mutex_};
    natsConnection* c = nc.load();
    bool up = c != nullptr
              && natsConnection_Status(c) == NATS_CONN_STATUS_CONNECTED;
    connected.store(up);
    if (first_reported_ && up == reported_up_)
      return;
    first_reported_ = true;
    reported_up_ = up;
    std::string reason = up ? std::string{} : mask(reason_if_down);
    gate.run([&] {
      if (listener_)
        listener_(up, reason);
    });
  }

  /// A change the connection's callbacks saw; reported when it is one.
  void on_state(bool up, const std::string& reason) {
    std::lock_guard<std::mutex> lock{state_mutex_};
    connected.store(up);
    if (!first_reported_ || up == reported_up_)
      return;
    reported_up_ = up;
    std::string masked = mask(reason);
    gate.run([&] {
      if (listener_)
        listener_(up, masked);
    });
  }

  // --- publishes ---

  /// Answers a publish (through the gate) and counts it done.
  void answer(pubsub_driver::completion& done, model::outcome o) {
    gate.run([&] { done(std::move(o)); });
    in_flight.fetch_sub(1);
  }

  /// Publishes queued or waiting for JetStream; bounded by max_pending.
  std::atomic<uint32_t> in_flight{0};

  void expect_ack(natsMsg* msg, awaiting_ack a) {
    std::lock_guard<std::mutex> lock{acks_mutex_};
    awaiting_[msg] = std::move(a);
  }

  std::optional<awaiting_ack> take_ack(natsMsg* msg) {
    std::lock_guard<std::mutex> lock{acks_mutex_};
    auto it = awaiting_.find(msg);
    if (it == awaiting_.end())
      return std::nullopt;
    auto a = std::move(it->second);
    awaiting_.erase(it);
    return a;
  }

  std::vector<awaiting_ack> take_all_acks() {
    std::lock_guard<std::mutex> lock{acks_mutex_};
    std::vector<awaiting_ack> all;
    all.reserve(awaiting_.size());
    for (auto& [msg, a] : awaiting_)
      all.push_back(std::move(a));
    awaiting_.clear();
    return all;
  }

  /// JetStream answered (or nats.c gave up waiting) for `msg`.
  void on_publish_ack(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae) {
    gate.run([&] {
      auto a = take_ack(msg);
      if (!a)
        return;
      model::outcome o = ack_outcome(*a, pa, pae);
      a->done(std::move(o));
      in_flight.fetch_sub(1);
    });
  }

  /// The connection broke: publishes still waiting for JetStream cannot be
  /// told apart from lost ones any more.
  void fail_awaiting(const std::string& why) {
    gate.run([&] {
      for (auto& a : take_all_acks()) {
        a.done(model::outcome::failure(status_code::unavailable, why));
        in_flight.fetch_sub(1);
      }
    });
  }

  // --- streams ---

  /// Makes sure the stream of namespace ns exists and holds its subjects,
  /// waiting for JetStream no longer than api_wait_ms or until `deadline`.
  step ensure_stream(const std::string& ns,
                     time_point deadline = time_point::max());
  void forget_stream(const std::string& ns) {
    std::lock_guard<std::mutex> lock{streams_mutex_};
    streams_.erase(ns);
  }

  // --- subscriptions ---

  void add_sub(const std::shared_ptr<sub_state>& s) {
    std::lock_guard<std::mutex> lock{subs_mutex_};
    subs_.push_back(s);
    // Drop the entries of subscriptions that are gone.
    subs_.erase(std::remove_if(subs_.begin(), subs_.end(),
                               [](const auto& w) { return w.expired(); }),
                subs_.end());
  }

  std::vector<std::shared_ptr<sub_state>> live_subs() {
    std::lock_guard<std::mutex> lock{subs_mutex_};
    std::vector<std::shared_ptr<sub_state>> out;
    for (auto& w : subs_)
      if (auto s = w.lock())
        out.push_back(std::move(s));
    return out;
  }

  /// Threads of JetStream members still running; the driver waits for
  /// them before it closes the connection.
  void thread_started() {
    std::lock_guard<std::mutex> lock{threads_mutex_};
    ++threads_;
  }
  void thread_finished() {
    std::lock_guard<std::mutex> lock{threads_mutex_};
    --threads_;
    threads_done_.notify_all();
  }
  void wait_for_threads() {
    std::unique_lock<std::mutex> lock{threads_mutex_};
    threads_done_.wait(lock, [this] { return threads_ == 0; });
  }

  /// Messages dropped by core subscriptions that are gone.
  std::atomic<uint64_t> dropped_by_closed_subs{0};

private:
  model::outcome ack_outcome(const awaiting_ack& a, jsPubAck* pa,
                          jsPubAckErr* pae) {
    if (pa != nullptr && pae == nullptr) {
      model::publish_result r;
      r.message_id = std::string(pa->Stream ? pa->Stream : "") + "-"
                     + std::to_string(pa->Sequence);
      return model::outcome::success(std::move(r));
    }
    natsStatus err = pae ? pae->Err : NATS_ERR;
    std::string text = pae && pae->ErrText ? pae->ErrText : "";
    if (err == NATS_TIMEOUT) {
      if (steady::now() >= a.deadline)
        return model::outcome::failure(
          status_code::deadline_exceeded,
          "the deadline passed before JetStream acknowledged the message; it "
          "may or may not have been stored");
      return model::outcome::failure(
        status_code::unavailable,
        "JetStream did not acknowledge the message within "
          + std::to_string(a.max_wait_ms)
          + " ms; it may or may not have been stored");
    }
    if (err == NATS_NO_RESPONDERS) {
      forget_stream(a.ns);
      return model::outcome::failure(
        status_code::unavailable,
        "no JetStream stream answered for the topic's subject (JetStream "
        "down, or the stream was deleted); the message was not stored");
    }
    if (pae != nullptr && pae->ErrCode != 0)
      return model::outcome::failure(
        status_code::unavailable,
        "JetStream refused the message: " + text + " (JetStream error "
          + std::to_string(pae->ErrCode) + "); it was not stored");
    return model::outcome::failure(status_code::unavailable,
                                "no acknowledgment from JetStream: " + text
                                  + "; the message may or may not have "
                                    "been stored");
  }

  std::mutex state_mutex_;
  bool first_reported_ = false;
  bool reported_up_ = false;
  pubsub_driver::state_listener listener_;

  std::mutex acks_mutex_;
  std::unordered_map<natsMsg*, awaiting_ack> awaiting_;

  std::mutex streams_mutex_;
  std::set<std::string> streams_;

  std::mutex subs_mutex_;
  std::vector<std::weak_ptr<sub_state>> subs_;

  std::mutex threads_mutex_;
  std::condition_variable threads_done_;
  int threads_ = 0;
};

bool holds_subjects(jsStreamInfo* si, const std::string& wanted) {
  if (si == nullptr || si->Config == nullptr)
    return false;
  for (int i = 0; i < si->Config->SubjectsLen; ++i)
    if (si->Config->Subjects[i] != nullptr
        && nats_names::subject_covers(si->Config->Subjects[i], wanted))
      return true;
  return false;
}

step nats_core::ensure_stream(const std::string& ns, time_point deadline) {
  {
    std::lock_guard<std::mutex> lock{streams_mutex_};
    if (streams_.count(ns))
      return step::ok();
  }
  jsCtx* j = js.load();
  if (j == nullptr || !connected.load())
    return step::again("not connected to NATS at " + settings.target);
  jsOptions wait;
  jsOptions_Init(&wait);
  wait.Wait = std::max<int64_t>(std::min(api_wait_ms, ms_until(deadline)), 1);
  const std::string name = nats_names::stream_name(settings.stream_prefix, ns);
  const std::string subjects
    = nats_names::stream_subjects(settings.subject_prefix, ns);
  for (int attempt = 0; attempt < 2; ++attempt) {
    jsStreamInfo* si = nullptr;
    jsErrCode code = jsErrCode{};
    natsStatus s = js_GetStreamInfo(&si, j, name.c_str(), &wait, &code);
    if (s == NATS_OK) {
      bool holds = holds_subjects(si, subjects);
      jsStreamInfo_Destroy(si);
      if (!holds)
        return step::fail(
          status_code::failed_precondition,
          "the JetStream stream " + name + " exists but does not hold the "
            + "subjects " + subjects
            + "; the gateway does not change existing streams");
      std::lock_guard<std::mutex> lock{streams_mutex_};
      streams_.insert(ns);
      return step::ok();
    }
    if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr)
      return classify(s, code, "cannot look up the JetStream stream " + name);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subject_list[] = {subjects.c_str()};
    cfg.Name = name.c_str();
    cfg.Subjects = subject_list;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    // nats.c counts MaxAge in nanoseconds; 0 keeps messages forever, as -1
    // (the server's "unlimited") puts no cap on the bytes.
    cfg.MaxAge = static_cast<int64_t>(settings.stream_max_age_ms) * 1000000;
    cfg.MaxBytes = settings.stream_max_bytes == 0
                     ? -1
                     : static_cast<int64_t>(settings.stream_max_bytes);
    code = jsErrCode{};
    s = js_AddStream(&si, j, &cfg, &wait, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      std::lock_guard<std::mutex> lock{streams_mutex_};
      streams_.insert(ns);
      return step::ok();
    }
    // Made by someone else meanwhile: look again.
    if (code != JSStreamNameExistErr)
      return classify(s, code, "cannot create the JetStream stream " + name);
  }
  return step::again("the JetStream stream " + name
                     + " keeps appearing and disappearing");
}

// --- nats.c callbacks for the connection -----------------------------------

std::string connection_error(natsConnection* nc) {
  const char* text = nullptr;
  if (nc != nullptr && natsConnection_GetLastError(nc, &text) != NATS_OK
      && text != nullptr && *text != '\0')
    return std::string(": ") + text;
  return {};
}

void on_disconnected(natsConnection* nc, void* closure) {
  auto core = closures<nats_core>::instance().find(closure);
  if (!core || core->stopping.load())
    return;
  core->fail_awaiting(
    "lost the connection to NATS before JetStream acknowledged the "
    "message; it may or may not have been stored");
  core->on_state(false, "lost the connection to NATS at "
                          + core->settings.target + connection_error(nc));
}

void on_connected(natsConnection*, void* closure) {
  auto core = closures<nats_core>::instance().find(closure);
  if (core && !core->stopping.load())
    core->on_state(true, {});
}

void on_closed(natsConnection* nc, void* closure) {
  auto core = closures<nats_core>::instance().find(closure);
  if (!core || core->stopping.load())
    return;
  core->fail_awaiting("the connection to NATS was closed before JetStream "
                      "acknowledged the message; it may or may not have "
                      "been stored");
  core->on_state(false, "the connection to NATS at " + core->settings.target
                          + " was closed" + connection_error(nc));
}

void on_publish_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae,
                    void* closure) {
  if (auto core = closures<nats_core>::instance().find(closure))
    core->on_publish_ack(msg, pa, pae);
  // The handler owns the message (nats.c hands it back here).
  natsMsg_Destroy(msg);
}

// --- messages --------------------------------------------------------------

/// A NATS message built from a publish, with metadata, id and time headers.
natsMsg* make_message(const std::string& subject, const model::publish_op& op,
                      const std::string& id, int64_t now_ms,
                      natsStatus& s) {
  natsMsg* msg = nullptr;
  s = natsMsg_Create(&msg, subject.c_str(), nullptr, op.payload.data(),
                     static_cast<int>(op.payload.size()));
  for (size_t i = 0; s == NATS_OK && i < op.metadata.size(); ++i) {
    const auto& [key, value] = op.metadata[i];
    s = natsMsgHeader_Set(msg, nats_names::metadata_header(key).c_str(),
                          nats_names::encode_value(value).c_str());
  }
  if (s == NATS_OK)
    s = natsMsgHeader_Set(msg, nats_names::id_header, id.c_str());
  if (s == NATS_OK)
    s = natsMsgHeader_Set(msg, nats_names::time_header,
                          std::to_string(now_ms).c_str());
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return nullptr;
  }
  return msg;
}

/// The message as a subscriber receives it. JetStream deliveries take id
/// and time from their metadata; core ones from the publisher's headers,
/// else (another client published it) a fresh id and the time now.
model::message to_message(natsMsg* m, const std::string& topic, bool jetstream,
                       nats_core& core) {
  model::message out;
  out.topic = topic;
  const char* data = natsMsg_GetData(m);
  int length = natsMsg_GetDataLength(m);
  if (data != nullptr && length > 0)
    out.payload.assign(data, static_cast<size_t>(length));

  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(m, &keys, &key_count) == NATS_OK) {
    for (int i = 0; i < key_count; ++i) {
      std::string_view key = keys[i];
      const char** values = nullptr;
      int value_count = 0;
      if (natsMsgHeader_Values(m, keys[i], &values, &value_count) != NATS_OK)
        continue;
      std::string name;
      if (key == nats_names::id_header && value_count > 0) {
        if (!jetstream)
          out.id = values[0];
      } else if (key == nats_names::time_header && value_count > 0) {
        if (!jetstream)
          out.publish_time_ms = std::strtoll(values[0], nullptr, 10);
      } else if (nats_names::metadata_key_of(key, name)) {
        for (int v = 0; v < value_count; ++v)
          out.metadata.emplace_back(name, nats_names::decode_value(values[v]));
      } else if (!nats_names::reserved_header(key)) {
        for (int v = 0; v < value_count; ++v)
          out.metadata.emplace_back(std::string{key}, values[v]);
      }
      std::free(static_cast<void*>(values));
    }
    std::free(static_cast<void*>(keys));
  }

  if (jetstream) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      out.id = std::string(meta->Stream ? meta->Stream : "") + "-"
               + std::to_string(meta->Sequence.Stream);
      out.publish_time_ms = meta->Timestamp / 1000000;
      jsMsgMetaData_Destroy(meta);
    }
  }
  if (out.id.empty())
    out.id = core.next_message_id();
  if (out.publish_time_ms == 0)
    out.publish_time_ms = core.clock->now_ms();
  return out;
}

// --- subscriptions ---------------------------------------------------------

/// One subscriber's subscription, whatever NATS object serves it.
class sub_state : public std::enable_shared_from_this<sub_state> {
public:
  sub_state(std::shared_ptr<nats_core> c, std::string n,
            const model::subscribe_op& op, pubsub_driver::subscriber_events ev)
    : core(std::move(c)), ns(std::move(n)), topic(op.topic),
      name(op.subscription), start(op.start), events_(std::move(ev)) {
    subject = nats_names::subject(core->settings.subject_prefix, ns, topic);
  }
  virtual ~sub_state() = default;

  virtual void request(uint32_t) {}
  virtual void ack(uint64_t) {}
  /// Ends delivery: once it returns, no callback of this subscription runs.
  /// It unsubscribes (a JetStream member finishes that on its own thread,
  /// see pull_member). Safe to call more than once, and from inside a
  /// callback.
  virtual void shutdown() = 0;
  /// Messages NATS dropped because this subscriber fell behind.
  virtual uint64_t dropped() { return 0; }

  const std::shared_ptr<nats_core> core;
  const std::string ns;
  const std::string topic;
  const std::string name;
  const model::start_position start;
  std::string subject;

protected:
  void deliver_ready() {
    gate_.run([&] { send_ready(); });
  }

  /// False once the subscription is closing.
  bool deliver(model::message m) {
    return gate_.run([&] {
      if (ended_)
        return;
      send_ready();
      if (events_.message)
        events_.message(std::move(m));
    });
  }

  void deliver_ended(prism::status why) {
    why.message = core->mask(std::move(why.message));
    gate_.run([&] {
      if (ended_)
        return;
      ended_ = true;
      if (events_.ended)
        events_.ended(std::move(why));
    });
  }

  void deliver_lag(uint64_t lag) {
    gate_.run([&] {
      if (!ended_ && events_.lag)
        events_.lag(lag);
    });
  }

  void close_gate() { gate_.close(); }

  /// Setup failures while connected: the subscription ends UNAVAILABLE when
  /// they last unavailable_after_ms.
  failure_clock failing_;

private:
  void send_ready() {
    if (ready_)
      return;
    ready_ = true;
    if (events_.ready)
      events_.ready();
  }

  pubsub_driver::subscriber_events events_;
  callback_gate gate_;
  // Under gate_.
  bool ready_ = false;
  bool ended_ = false;
};

// --- push subscriptions: core NATS and ordered JetStream consumers ---------

void on_push_message(natsConnection*, natsSubscription*, natsMsg* msg,
                     void* closure);

/// A subscription nats.c pushes messages to: a core subscription (plain or
/// queue group) or an ordered JetStream consumer. Set up by the driver's
/// control thread; messages arrive on nats.c's delivery thread.
class push_sub final : public sub_state {
public:
  enum class kind { plain, queue, ordered };

  push_sub(std::shared_ptr<nats_core> c, std::string n,
           const model::subscribe_op& op, pubsub_driver::subscriber_events ev,
           kind k)
    : sub_state(std::move(c), std::move(n), op, std::move(ev)), kind_(k) {}

  void register_closure() {
    handle_ = closures<push_sub>::instance().add(
      std::static_pointer_cast<push_sub>(shared_from_this()));
  }

  /// One setup attempt on the control thread: the retry delay, or nothing
  /// once it is in place (ready sent) or has ended.
  std::optional<int64_t> setup_step();

  void on_message(natsMsg* m) {
    model::message out = to_message(m, topic, kind_ == kind::ordered, *core);
    if (kind_ == kind::queue)
      out.tag = ++next_tag_;
    deliver(std::move(out));
  }

  void shutdown() override {
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

  uint64_t dropped() override {
    std::lock_guard<std::mutex> lock{mutex_};
    int64_t n = 0;
    if (sub_ != nullptr && natsSubscription_GetDropped(sub_, &n) == NATS_OK)
      return static_cast<uint64_t>(n);
    return 0;
  }

private:
  /// Keeps the subscription, unless shutdown() came first.
  bool keep(natsSubscription* s) {
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

  bool is_shut() {
    std::lock_guard<std::mutex> lock{mutex_};
    return shut_;
  }

  /// A failed attempt: retry later, or end when it failed for too long
  /// while connected.
  std::optional<int64_t> retry_or_end(const step& st) {
    if (st.what == step::failed) {
      deliver_ended(st.why);
      return std::nullopt;
    }
    if (!core->connected.load()) {
      failing_.reset();
      return connected_poll_ms;
    }
    if (failing_.failed_for(core->settings.unavailable_after_ms)) {
      deliver_ended(prism::status::failure(
        status_code::unavailable,
        "could not subscribe to " + subject + " for "
          + std::to_string(core->settings.unavailable_after_ms)
          + " ms: " + st.why.message));
      return std::nullopt;
    }
    return retry_min_ms * 5;
  }

  const kind kind_;
  void* handle_ = nullptr;
  std::atomic<uint64_t> next_tag_{0};
  std::mutex mutex_;
  natsSubscription* sub_ = nullptr;
  bool shut_ = false;
  /// The subscription exists; what is left is to confirm it with the server.
  bool subscribed_ = false;
};

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
    return connected_poll_ms;

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
      status = natsConnection_QueueSubscribe(&s, nc, subject.c_str(),
                                             name.c_str(), on_push_message,
                                             handle_);
    } else {
      status = natsConnection_Subscribe(&s, nc, subject.c_str(),
                                        on_push_message, handle_);
    }
    if (status != NATS_OK)
      return retry_or_end(
        step::again("cannot subscribe to " + subject + ": "
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

void on_push_message(natsConnection*, natsSubscription*, natsMsg* msg,
                     void* closure) {
  if (auto sub = closures<push_sub>::instance().find(closure))
    sub->on_message(msg);
  natsMsg_Destroy(msg);
}

// --- JetStream named members: durable pull consumers -----------------------

/// One member of a named subscription in JetStream mode. Its own thread sets
/// up the durable consumer and binds to it, fetches what its credit allows,
/// acks, and keeps held messages in progress. Every natsMsg it delivered
/// stays here until acked or, when the member goes, given back (NAK), always
/// before the natsSubscription is destroyed.
class pull_member final : public sub_state {
public:
  using sub_state::sub_state;

  void launch() {
    core->thread_started();
    std::thread([self = std::static_pointer_cast<pull_member>(
                   shared_from_this())] { self->run(); })
      .detach();
  }

  void request(uint32_t n) override {
    std::lock_guard<std::mutex> lock{mutex_};
    credit_ = std::min<uint64_t>(credit_ + n, credit_max);
    wake_.notify_all();
  }

  void ack(uint64_t tag) override {
    std::lock_guard<std::mutex> lock{mutex_};
    if (stop_)
      return;
    to_ack_.push_back(tag);
    wake_.notify_all();
  }

  /// Returns at once: the member's thread finishes the pull request it
  /// may have outstanding (at most fetch_wait_ms), then acks, gives back
  /// what it holds and unsubscribes. Waiting for that request, rather than
  /// unsubscribing under it, keeps nats-server 2.9 from handing a message
  /// it redelivers to a request nobody listens to any more (it then
  /// rewinds the consumer by one: a duplicate, and a redelivery delayed).
  /// The driver waits for the thread before it closes the connection.
  void shutdown() override {
    close_gate();
    std::lock_guard<std::mutex> lock{mutex_};
    stop_ = true;
    wake_.notify_all();
  }

private:
  struct held {
    natsMsg* msg = nullptr;
    time_point delivered_at;
  };

  void run();
  step setup();
  void fetch(int batch);
  void take(natsMsgList& list);
  void on_fetch_error(natsStatus s);
  void send_acks(const std::vector<uint64_t>& tags);
  void keep_in_progress();
  void report_lag();
  void finish();

  /// Waits up to `ms` or until stopped; true when stopped.
  bool pause(int64_t ms) {
    std::unique_lock<std::mutex> lock{mutex_};
    return wake_.wait_for(lock, milliseconds(ms), [this] { return stop_; });
  }

  bool stopped() {
    std::lock_guard<std::mutex> lock{mutex_};
    return stop_;
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  // Under mutex_.
  uint64_t credit_ = 0;
  std::vector<uint64_t> to_ack_;
  bool stop_ = false;

  // The member's thread only.
  natsSubscription* sub_ = nullptr;
  std::string stream_;
  std::string durable_;
  std::map<uint64_t, held> held_;
  uint64_t next_tag_ = 0;
  int64_t progress_every_ms_ = ack_wait_ms / 3;
  time_point next_progress_ = time_point::max();
  time_point next_lag_ = time_point::min();
  int64_t backoff_ms_ = retry_min_ms;
  /// Set once the member delivered `ended` (it then only finishes).
  bool over_ = false;
};

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
    return classify(s, code, "cannot set up the JetStream consumer "
                               + durable_ + " of stream " + stream_);
  bool pull = ci->Config != nullptr
              && (ci->Config->DeliverSubject == nullptr
                  || *ci->Config->DeliverSubject == '\0');
  std::string filter = ci->Config && ci->Config->FilterSubject
                         ? ci->Config->FilterSubject
                         : "";
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
    return classify(s, code, "cannot bind to the JetStream consumer "
                               + durable_);
  sub_ = sub;
  return step::ok();
}

void pull_member::run() {
  // Set up: wait while NATS is down, retry while it fails, end when it
  // fails for good or for too long.
  while (!stopped()) {
    if (!core->connected.load()) {
      failing_.reset();
      pause(connected_poll_ms);
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
      pause(connected_poll_ms);
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
    pause(connected_poll_ms);
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
  // answer (no longer than nak_confirm_wait_ms), so the consumer has taken
  // them all back when the member is gone.
  jsOptions wait;
  jsOptions_Init(&wait);
  wait.Wait = nak_confirm_wait_ms;
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
  check(natsOptions_SetServers(o, servers.data(),
                               static_cast<int>(servers.size())),
        st.backend, ("the url " + st.target).c_str());
  check(natsOptions_SetName(o, ("prism " + st.backend).c_str()), st.backend,
        "the connection name");
  check(natsOptions_SetTimeout(o, st.connect_timeout_ms), st.backend,
        "connect_timeout_ms");
  check(natsOptions_SetMaxReconnect(o, -1), st.backend, "reconnecting forever");
  check(natsOptions_SetReconnectWait(o, reconnect_wait_ms), st.backend,
        "the reconnect wait");
  check(natsOptions_SetReconnectJitter(o, reconnect_jitter_ms,
                                       reconnect_jitter_ms),
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
  check(natsOptions_SetRetryOnFailedConnect(o, true, on_connected,
                                            core_->handle),
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
      natsConnection_FlushTimeout(nc, 1000);
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
    o.status.retry_after_ms = 100;
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
      publish_wake_.wait(lock, [this] {
        return publisher_stop_ || !publish_queue_.empty();
      });
      if (publisher_stop_)
        return;
      while (!publish_queue_.empty() && batch.size() < publish_batch_max) {
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
    core_->answer(job.done, model::outcome::failure(
                              status_code::deadline_exceeded,
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
    std::string subject = nats_names::subject(st.subject_prefix, job.ns,
                                              job.op.topic);
    if (!admissible(job, subject))
      continue;
    if (job.op.payload.size() > static_cast<size_t>(INT32_MAX)) {
      core_->answer(job.done, model::outcome::failure(
                                status_code::invalid_argument,
                                "the payload is too large for NATS"));
      continue;
    }
    if (st.jetstream) {
      step ready = core_->ensure_stream(job.ns, job.deadline);
      if (ready.what != step::done) {
        auto why = ready.why;
        why.message = core_->mask(why.message) + "; the message was not "
                                                 "published";
        core_->answer(job.done, model::outcome{why, {}});
        continue;
      }
    }
    natsStatus s = NATS_OK;
    std::string id = core_->next_message_id();
    natsMsg* msg = make_message(subject, job.op, id, core_->clock->now_ms(), s);
    if (msg == nullptr) {
      core_->answer(job.done, model::outcome::failure(
                                status_code::invalid_argument,
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
    int64_t max_wait = std::min(ms_until(job.deadline),
                                publish_ack_wait_max_ms);
    max_wait = std::max<int64_t>(max_wait, 1);
    natsMsg* key = msg;
    core_->expect_ack(key, awaiting_ack{job.ns, job.deadline, max_wait,
                                        std::move(job.done)});
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = max_wait;
    s = js_PublishMsgAsync(core_->js.load(), &msg, &po);
    if (s != NATS_OK) {
      // nats.c did not take it: no acknowledgment will come.
      natsMsg_Destroy(msg);
      if (auto a = core_->take_ack(key))
        core_->answer(a->done, send_failure(
                                 s, nc, "it may or may not have been stored"));
    }
  }
  if (flushed.empty())
    return;
  int64_t wait = 1;
  for (auto& [job, id] : flushed)
    wait = std::max(wait, std::min(ms_until(job->deadline),
                                   publish_ack_wait_max_ms));
  natsStatus s = natsConnection_FlushTimeout(nc, wait);
  for (auto& [job, id] : flushed) {
    if (s == NATS_OK) {
      model::publish_result r;
      r.message_id = id;
      core_->answer(job->done, model::outcome::success(std::move(r)));
    } else if (steady::now() >= job->deadline) {
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

std::unique_ptr<pubsub_driver::subscription>
nats_driver::subscribe(const std::string& ns, const model::subscribe_op& op,
                       subscriber_events events) {
  const bool named = !op.subscription.empty();
  std::shared_ptr<sub_state> state;
  if (core_->settings.jetstream && named) {
    auto member = std::make_shared<pull_member>(core_, ns, op,
                                                std::move(events));
    core_->add_sub(member);
    member->launch();
    state = member;
  } else {
    // With JetStream every ephemeral subscriber reads the stream through an
    // ordered consumer, so it sees exactly what was stored, with the ids
    // Publish answered.
    auto kind = named                        ? push_sub::kind::queue
                : core_->settings.jetstream ? push_sub::kind::ordered
                                             : push_sub::kind::plain;
    auto sub = std::make_shared<push_sub>(core_, ns, op, std::move(events),
                                          kind);
    sub->register_closure();
    core_->add_sub(sub);
    control_.post([sub] { return sub->setup_step(); });
    state = sub;
  }
  return std::make_unique<nats_subscription>(std::move(state));
}

nats_settings settings_of(const config::backend& backend) {
  const auto& n = backend.nats;
  nats_settings s;
  s.backend = backend.name;
  s.url = n.url;
  s.target = nats_names::without_credentials(n.url);
  s.jetstream = n.jetstream;
  s.subject_prefix = n.subject_prefix;
  s.stream_prefix = n.stream_prefix;
  s.stream_max_age_ms = n.stream_max_age_ms;
  s.stream_max_bytes = n.stream_max_bytes;
  s.connect_timeout_ms = n.connect_timeout_ms;
  s.max_pending = backend.max_pending;
  s.unavailable_after_ms = backend.unavailable_after_ms;
  if (!n.token_env.empty()) {
    const char* token = std::getenv(n.token_env.c_str());
    if (token == nullptr)
      throw std::runtime_error("backend \"" + backend.name + "\": token_env "
                               "names the environment variable "
                               + n.token_env + ", which is not set");
    s.token = token;
  }
  if (s.url.empty())
    throw std::runtime_error("backend \"" + backend.name
                             + "\": no NATS url configured");
  return s;
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
