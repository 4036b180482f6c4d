#include "drivers/nats/nats_core.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "drivers/nats/nats_names.hpp"

namespace prism::drivers::nats_detail {

using namespace nats_tuning;

// --- the shared core -------------------------------------------------------

std::string nats_core::mask(std::string text) const {
  const auto& t = settings.token;
  if (t.empty())
    return text;
  for (size_t at = text.find(t); at != std::string::npos;
       at = text.find(t, at + 3))
    text.replace(at, t.size(), "***");
  return text;
}

void nats_core::set_listener(pubsub_driver::state_listener l) {
  std::lock_guard<std::mutex> lock{state_mutex_};
  listener_ = std::move(l);
}

void nats_core::report_first(const std::string& reason_if_down) {
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

void nats_core::on_state(bool up, const std::string& reason) {
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

void nats_core::expect_ack(natsMsg* msg, awaiting_ack a) {
  std::lock_guard<std::mutex> lock{acks_mutex_};
  awaiting_[msg] = std::move(a);
}

std::optional<awaiting_ack> nats_core::take_ack(natsMsg* msg) {
  std::lock_guard<std::mutex> lock{acks_mutex_};
  auto it = awaiting_.find(msg);
  if (it == awaiting_.end())
    return std::nullopt;
  auto a = std::move(it->second);
  awaiting_.erase(it);
  return a;
}

std::vector<awaiting_ack> nats_core::take_all_acks() {
  std::lock_guard<std::mutex> lock{acks_mutex_};
  std::vector<awaiting_ack> all;
  all.reserve(awaiting_.size());
  for (auto& [msg, a] : awaiting_)
    all.push_back(std::move(a));
  awaiting_.clear();
  return all;
}

void nats_core::on_publish_ack(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae) {
  gate.run([&] {
    auto a = take_ack(msg);
    if (!a)
      return;
    model::outcome o = ack_outcome(*a, pa, pae);
    a->done(std::move(o));
    in_flight.fetch_sub(1);
  });
}

void nats_core::fail_awaiting(const std::string& why) {
  gate.run([&] {
    for (auto& a : take_all_acks()) {
      a.done(model::outcome::failure(status_code::unavailable, why));
      in_flight.fetch_sub(1);
    }
  });
}

void nats_core::add_sub(const std::shared_ptr<sub_state>& s) {
  std::lock_guard<std::mutex> lock{subs_mutex_};
  subs_.push_back(s);
  // Drop the entries of subscriptions that are gone.
  subs_.erase(std::remove_if(subs_.begin(), subs_.end(),
                             [](const auto& w) { return w.expired(); }),
              subs_.end());
}

std::vector<std::shared_ptr<sub_state>> nats_core::live_subs() {
  std::lock_guard<std::mutex> lock{subs_mutex_};
  std::vector<std::shared_ptr<sub_state>> out;
  for (auto& w : subs_)
    if (auto s = w.lock())
      out.push_back(std::move(s));
  return out;
}

void nats_core::thread_started() {
  std::lock_guard<std::mutex> lock{threads_mutex_};
  ++threads_;
}

void nats_core::thread_finished() {
  std::lock_guard<std::mutex> lock{threads_mutex_};
  --threads_;
  threads_done_.notify_all();
}

void nats_core::wait_for_threads() {
  std::unique_lock<std::mutex> lock{threads_mutex_};
  threads_done_.wait(lock, [this] { return threads_ == 0; });
}

model::outcome nats_core::ack_outcome(const awaiting_ack& a, jsPubAck* pa,
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
    if (a.wait_ends_at_deadline || steady::now() >= a.deadline)
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

namespace {

bool holds_subjects(jsStreamInfo* si, const std::string& wanted) {
  if (si == nullptr || si->Config == nullptr)
    return false;
  for (int i = 0; i < si->Config->SubjectsLen; ++i)
    if (si->Config->Subjects[i] != nullptr
        && nats_names::subject_covers(si->Config->Subjects[i], wanted))
      return true;
  return false;
}

} // namespace

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
  for (uint32_t attempt = 0;
       attempt < defaults::nats_stream_setup_attempts_count; ++attempt) {
    jsStreamInfo* si = nullptr;
    jsErrCode code = jsErrCode{};
    natsStatus s = js_GetStreamInfo(&si, j, name.c_str(), &wait, &code);
    if (s == NATS_OK) {
      bool holds = holds_subjects(si, subjects);
      jsStreamInfo_Destroy(si);
      if (!holds)
        return step::fail(status_code::failed_precondition,
                          "the JetStream stream " + name
                            + " exists but does not hold the " + "subjects "
                            + subjects
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
  core->on_state(false,
                 "lost the connection to NATS at " + core->settings.target
                   + connection_error(nc));
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
  core->on_state(false,
                 "the connection to NATS at " + core->settings.target
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

natsMsg* make_message(const std::string& subject, const model::publish_op& op,
                      const std::string& id, int64_t now_ms, natsStatus& s) {
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

} // namespace prism::drivers::nats_detail
