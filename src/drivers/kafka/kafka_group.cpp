#include "drivers/kafka/kafka_group.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "drivers/kafka/kafka_topics.hpp"

namespace prism::drivers::kafka {

namespace {

using steady = std::chrono::steady_clock;

/// How long one poll waits when nothing happens (a command wakes it).
constexpr int poll_wait_ms = 1000;
/// Records taken from librdkafka in one go before the thread hands them out.
constexpr int poll_batch_max = 256;
/// Bounds of the blocking calls the thread makes: reading committed
/// offsets, reading a partition's end offsets, a synchronous commit, the
/// consumer's close, and waiting for a closing predecessor.
constexpr int committed_timeout_ms = 5000;
constexpr int watermark_timeout_ms = 5000;
constexpr int commit_wait_ms = 5000;
constexpr int close_wait_ms = 5000;
/// Reading a partition's end offset for the lag (skipped when it times out).
constexpr int lag_query_timeout_ms = 500;
constexpr auto predecessor_wait = std::chrono::milliseconds(15000);
constexpr auto predecessor_slice = std::chrono::milliseconds(100);

bool cooperative(rd_kafka_t* rk) {
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

void log_line(rd_kafka_t* rk, const std::string& text) {
  std::fprintf(stderr, "kafka %s: %s\n", rk ? rd_kafka_name(rk) : "-",
               text.c_str());
}

} // namespace

group_consumer::group_consumer(consumer_settings settings,
                               std::string kafka_topic, std::string topic,
                               std::string group_id,
                               model::start_position start,
                               std::shared_ptr<consumer_thread> predecessor)
  : settings_(std::move(settings)), kafka_topic_(std::move(kafka_topic)),
    topic_(std::move(topic)), group_id_(std::move(group_id)), start_(start),
    predecessor_(std::move(predecessor)) {}

group_consumer::~group_consumer() {
  request_stop();
  join();
}

void group_consumer::start() {
  thread_ = std::thread([this] { run(); });
}

void group_consumer::request_stop() {
  stop_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  if (wake_queue_ != nullptr)
    rd_kafka_queue_yield(wake_queue_);
}

// --- commands from the subscriptions ---------------------------------------------

bool group_consumer::add_member(uint64_t member,
                                std::shared_ptr<subscriber> target) {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  if (!accepting_)
    return false;
  inbox_.push_back({command::kind::add, member, 0, std::move(target)});
  if (wake_queue_ != nullptr)
    rd_kafka_queue_yield(wake_queue_);
  return true;
}

void group_consumer::credit(uint64_t member, uint32_t n) {
  post({command::kind::credit, member, n, nullptr});
}

void group_consumer::ack(uint64_t member, uint64_t tag) {
  post({command::kind::ack, member, tag, nullptr});
}

void group_consumer::leave(uint64_t member) {
  post({command::kind::leave, member, 0, nullptr});
}

void group_consumer::post(command c) {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  inbox_.push_back(std::move(c));
  if (wake_queue_ != nullptr)
    rd_kafka_queue_yield(wake_queue_);
}

bool group_consumer::apply_commands() {
  while (true) {
    std::deque<command> batch;
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      if (inbox_.empty()) {
        if (members_.empty())
          accepting_
            = false; // from now on a new subscriber makes a new consumer
        return !members_.empty();
      }
      batch.swap(inbox_);
    }
    for (auto& c : batch)
      apply(c);
  }
}

void group_consumer::apply(command& c) {
  if (c.what == command::kind::add) {
    members_.push_back({c.member, std::move(c.target), 0, {}});
    if (assigned_once_)
      members_.back().target->ready();
    return;
  }
  if (c.what == command::kind::leave) {
    remove_member(c.member);
    return;
  }
  auto m
    = std::find_if(members_.begin(), members_.end(),
                   [&](const member_state& s) { return s.id == c.member; });
  if (m == members_.end())
    return;
  if (c.what == command::kind::credit) {
    m->credit
      = std::min(m->credit + c.value, std::numeric_limits<uint64_t>::max() / 2);
    return;
  }
  // An ack: forget the delivery, and move the partition's commit point when
  // it was the oldest outstanding offset there.
  auto delivered = m->unacked.find(c.value);
  if (delivered == m->unacked.end())
    return; // unknown, acked twice, or its partition was taken away meanwhile
  m->unacked.erase(delivered);
  auto position = split_tag(c.value);
  auto p = partitions_.find(position.partition);
  if (p == partitions_.end())
    return;
  auto o = p->second.outstanding.find(position.offset);
  if (o == p->second.outstanding.end())
    return;
  o->second = true;
  if (o == p->second.outstanding.begin())
    commit_due_ = true;
}

void group_consumer::remove_member(uint64_t id) {
  auto it = std::find_if(members_.begin(), members_.end(),
                         [&](const member_state& s) { return s.id == id; });
  if (it == members_.end())
    return;
  // What it had and did not acknowledge goes to the others first, oldest
  // first (tags order by partition, then offset).
  for (auto d = it->unacked.rbegin(); d != it->unacked.rend(); ++d) {
    auto position = split_tag(d->first);
    auto p = partitions_.find(position.partition);
    if (p == partitions_.end())
      continue;
    auto o = p->second.outstanding.find(position.offset);
    if (o == p->second.outstanding.end() || o->second)
      continue;
    waiting_.push_front(
      {position.partition, position.offset, std::move(d->second)});
  }
  auto index = static_cast<size_t>(it - members_.begin());
  members_.erase(it);
  if (next_member_ > index)
    --next_member_;
  if (next_member_ >= members_.size())
    next_member_ = 0;
}

// --- the thread ---------------------------------------------------------------------

void group_consumer::run() {
  if (predecessor_) {
    auto deadline = steady::now() + predecessor_wait;
    while (!stopping() && steady::now() < deadline
           && !predecessor_->wait_finished_for(predecessor_slice)) {
    }
    predecessor_.reset();
  }

  auto ensured = settings_.topics->ensure_and_wait(
    kafka_topic_, [this] { return stopping(); });
  if (!ensured.status.ok()) {
    close_consumer(stopping() ? nullptr : &ensured.status);
    return;
  }

  try {
    rd_kafka_conf_t* conf = make_config(
      {{"queued.min.messages", "1000"}}, settings_.configured,
      {{"bootstrap.servers", settings_.brokers},
       {"client.id", settings_.client_id},
       {"group.id", group_id_},
       {"enable.auto.commit", "false"},
       {"enable.auto.offset.store", "false"},
       {"enable.partition.eof", "false"},
       {"allow.auto.create.topics", "false"},
       {"auto.offset.reset",
        start_ == model::start_position::earliest ? "earliest" : "latest"}});
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_trampoline);
    rd_kafka_conf_set_offset_commit_cb(
      conf,
      [](rd_kafka_t*, rd_kafka_resp_err_t err,
         rd_kafka_topic_partition_list_t* offsets, void* opaque) {
        // An asynchronous commit that failed is made again on the next round.
        auto* self = static_cast<group_consumer*>(opaque);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || offsets == nullptr)
          return;
        for (int i = 0; i < offsets->cnt; ++i) {
          auto p = self->partitions_.find(offsets->elems[i].partition);
          if (p != self->partitions_.end()
              && p->second.committed == offsets->elems[i].offset) {
            p->second.committed = -1;
            self->commit_due_ = true;
          }
        }
      });
    rk_ = make_client(RD_KAFKA_CONSUMER, conf);
  } catch (const std::exception& e) {
    auto why = prism::status::failure(status_code::unavailable, e.what());
    close_consumer(&why);
    return;
  }
  rd_kafka_poll_set_consumer(rk_.get());
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    wake_queue_ = rd_kafka_queue_get_consumer(rk_.get());
  }
  partition_list topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), kafka_topic_.c_str(),
                                    RD_KAFKA_PARTITION_UA);
  if (auto err = rd_kafka_subscribe(rk_.get(), topics.get())) {
    auto why = prism::status::failure(status_code::unavailable,
                                      "cannot subscribe to the Kafka topic \""
                                        + kafka_topic_
                                        + "\": " + rd_kafka_err2str(err));
    close_consumer(&why);
    return;
  }

  while (apply_commands() && !stopping()) {
    dispatch();
    update_pause();
    if (commit_due_)
      commit(false);
    if (assigned_once_ && steady::now() >= next_lag_report_)
      report_lag();
    rd_kafka_message_t* record
      = rd_kafka_consumer_poll(rk_.get(), poll_wait_ms);
    for (int taken = 0; record != nullptr;) {
      on_record(*record);
      rd_kafka_message_destroy(record);
      if (++taken >= poll_batch_max || stopping())
        break;
      record = rd_kafka_consumer_poll(rk_.get(), 0);
    }
  }
  close_consumer(failure_ ? &*failure_ : nullptr);
}

void group_consumer::on_record(const rd_kafka_message_t& record) {
  if (record.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (record.err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      return;
    log_line(rk_.get(), group_id_ + ": " + rd_kafka_message_errstr(&record));
    if (record.err == RD_KAFKA_RESP_ERR__FATAL) {
      char why[512];
      rd_kafka_fatal_error(rk_.get(), why, sizeof why);
      failure_ = prism::status::failure(status_code::unavailable,
                                        "the Kafka consumer of subscription \""
                                          + group_id_ + "\" failed: " + why);
      stop_.store(true, std::memory_order_release);
    }
    return;
  }
  auto p = partitions_.find(record.partition);
  if (p == partitions_.end())
    return; // not this consumer's any more; its new owner reads it
  auto& state = p->second;
  if (state.next_offset >= 0 && record.offset < state.next_offset)
    return; // had it already
  uint64_t tag = 0;
  try {
    tag = make_tag(record.partition, record.offset);
  } catch (const std::out_of_range& e) {
    failure_ = prism::status::failure(status_code::internal, e.what());
    stop_.store(true, std::memory_order_release);
    return;
  }
  state.outstanding.emplace(record.offset, false);
  state.next_offset = record.offset + 1;
  waiting_.push_back(
    {record.partition, record.offset, to_message(record, topic_, tag)});
}

void group_consumer::dispatch() {
  while (!waiting_.empty() && !members_.empty()) {
    size_t chosen = members_.size();
    for (size_t i = 0; i < members_.size(); ++i) {
      size_t candidate = (next_member_ + i) % members_.size();
      if (members_[candidate].credit > 0) {
        chosen = candidate;
        break;
      }
    }
    if (chosen == members_.size())
      return;
    auto w = std::move(waiting_.front());
    waiting_.pop_front();
    auto& m = members_[chosen];
    next_member_ = (chosen + 1) % members_.size();
    --m.credit;
    m.unacked.emplace(w.message.tag, w.message);
    // A callback may post commands (credit, ack, leave), never change
    // members_ directly: `m` stays valid.
    m.target->deliver(std::move(w.message));
  }
}

void group_consumer::update_pause() {
  uint64_t credit = 0;
  for (const auto& m : members_)
    credit += m.credit;
  bool fetch = credit > waiting_.size();
  if (fetch != paused_)
    return; // already as it should be
  paused_ = !fetch;
  if (partitions_.empty())
    return;
  partition_list list(
    rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size())));
  for (const auto& [partition, state] : partitions_)
    rd_kafka_topic_partition_list_add(list.get(), kafka_topic_.c_str(),
                                      partition);
  if (paused_)
    rd_kafka_pause_partitions(rk_.get(), list.get());
  else
    rd_kafka_resume_partitions(rk_.get(), list.get());
}

int64_t group_consumer::commit_point(partition_state& p) {
  while (!p.outstanding.empty() && p.outstanding.begin()->second)
    p.outstanding.erase(p.outstanding.begin());
  return p.outstanding.empty() ? p.next_offset : p.outstanding.begin()->first;
}

void group_consumer::report_lag() {
  // The next round is an interval after this one ends: a leader that does
  // not answer holds the thread at most lag_query_timeout_ms per round.
  struct schedule_next {
    steady::time_point& next;
    ~schedule_next() {
      next = steady::now() + pubsub_driver::lag_report_interval;
    }
  } later{next_lag_report_};
  uint64_t lag = 0;
  for (auto& [partition, state] : partitions_) {
    int64_t point = commit_point(state);
    if (point < 0)
      point = state.committed;
    if (point < 0)
      continue; // its start is not resolved yet: nothing was read there
    int64_t low = 0, high = 0;
    auto err = rd_kafka_query_watermark_offsets(rk_.get(), kafka_topic_.c_str(),
                                                partition, &low, &high,
                                                lag_query_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return; // a figure without this partition would be too low
    if (high > point)
      lag += static_cast<uint64_t>(high - point);
  }
  for (auto& m : members_)
    m.target->lag(lag);
}

void group_consumer::commit(bool wait,
                            const rd_kafka_topic_partition_list_t* only) {
  commit_due_ = false;
  if (!rk_)
    return;
  partition_list list(
    rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size())));
  for (auto& [partition, state] : partitions_) {
    if (only != nullptr
        && rd_kafka_topic_partition_list_find(only, kafka_topic_.c_str(),
                                              partition)
          == nullptr)
      continue;
    int64_t point = commit_point(state);
    if (point < 0 || point <= state.committed)
      continue;
    auto* entry = rd_kafka_topic_partition_list_add(
      list.get(), kafka_topic_.c_str(), partition);
    entry->offset = point;
    state.committed = point;
  }
  if (list->cnt == 0)
    return;
  if (!wait) {
    rd_kafka_commit(rk_.get(), list.get(), 1);
    return;
  }
  queue_ptr answers(rd_kafka_queue_new(rk_.get()));
  rd_kafka_commit_queue(rk_.get(), list.get(), answers.get(), nullptr, nullptr);
  rd_kafka_event_t* event = rd_kafka_queue_poll(answers.get(), commit_wait_ms);
  if (event == nullptr) {
    log_line(rk_.get(), group_id_ + ": an offset commit got no answer in time");
    return;
  }
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR)
    log_line(rk_.get(),
             group_id_ + ": offset commit failed: "
               + rd_kafka_event_error_string(event));
  rd_kafka_event_destroy(event);
}

// --- rebalances ---------------------------------------------------------------------

void group_consumer::rebalance_trampoline(
  rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
  void* opaque) {
  static_cast<group_consumer*>(opaque)->on_rebalance(err, parts);
}

void group_consumer::on_rebalance(rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* parts) {
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
    on_assign(parts);
  else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
    on_revoke(parts);
  else {
    log_line(rk_.get(),
             group_id_ + ": rebalance failed: " + rd_kafka_err2str(err));
    on_revoke(parts);
  }
}

void group_consumer::on_assign(rd_kafka_topic_partition_list_t* parts) {
  partition_list positions(rd_kafka_topic_partition_list_copy(parts));
  auto err
    = rd_kafka_committed(rk_.get(), positions.get(), committed_timeout_ms);
  partition_list initial(rd_kafka_topic_partition_list_new(positions->cnt));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Without the committed offsets, librdkafka looks them up itself.
    log_line(rk_.get(),
             group_id_
               + ": cannot read committed offsets: " + rd_kafka_err2str(err));
    for (int i = 0; i < positions->cnt; ++i)
      positions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
  } else {
    for (int i = 0; i < positions->cnt; ++i) {
      auto& e = positions->elems[i];
      if (e.offset >= 0)
        continue;
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Unknown is not "none": librdkafka looks the commit up itself
        // rather than the group starting over at the end.
        e.offset = RD_KAFKA_OFFSET_INVALID;
        e.err = RD_KAFKA_RESP_ERR_NO_ERROR;
        continue;
      }
      int64_t low = 0, high = 0;
      auto werr = rd_kafka_query_watermark_offsets(
        rk_.get(), e.topic, e.partition, &low, &high, watermark_timeout_ms);
      if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        e.offset = RD_KAFKA_OFFSET_INVALID; // auto.offset.reset applies
        continue;
      }
      e.offset = start_ == model::start_position::earliest ? low : high;
      rd_kafka_topic_partition_list_add(initial.get(), e.topic, e.partition)
        ->offset
        = e.offset;
    }
  }
  if (initial->cnt > 0) {
    // A new group keeps the place it starts from, from `ready` on.
    queue_ptr answers(rd_kafka_queue_new(rk_.get()));
    rd_kafka_commit_queue(rk_.get(), initial.get(), answers.get(), nullptr,
                          nullptr);
    if (rd_kafka_event_t* event
        = rd_kafka_queue_poll(answers.get(), commit_wait_ms))
      rd_kafka_event_destroy(event);
  }

  if (cooperative(rk_.get())) {
    rd_kafka_error_t* error
      = rd_kafka_incremental_assign(rk_.get(), positions.get());
    if (error != nullptr) {
      log_line(rk_.get(),
               group_id_ + ": assign failed: " + rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_assign(rk_.get(), positions.get());
  }
  for (int i = 0; i < positions->cnt; ++i) {
    const auto& e = positions->elems[i];
    auto& state = partitions_[e.partition];
    state = partition_state{};
    state.next_offset = e.offset >= 0 ? e.offset : -1;
    state.committed = e.offset >= 0 ? e.offset : -1;
  }
  if (paused_ && positions->cnt > 0)
    rd_kafka_pause_partitions(rk_.get(), positions.get());
  if (!assigned_once_) {
    assigned_once_ = true;
    for (auto& m : members_)
      m.target->ready();
  }
}

void group_consumer::on_revoke(rd_kafka_topic_partition_list_t* parts) {
  if (parts != nullptr && !rd_kafka_assignment_lost(rk_.get()))
    commit(true, parts);
  std::set<int32_t> gone;
  if (parts != nullptr)
    for (int i = 0; i < parts->cnt; ++i)
      gone.insert(parts->elems[i].partition);
  for (int32_t p : gone)
    partitions_.erase(p);
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(),
                                [&](const waiting_message& w) {
                                  return gone.count(w.partition) > 0;
                                }),
                 waiting_.end());
  for (auto& m : members_)
    for (auto d = m.unacked.begin(); d != m.unacked.end();)
      d = gone.count(split_tag(d->first).partition) ? m.unacked.erase(d)
                                                    : std::next(d);

  if (cooperative(rk_.get())) {
    if (parts != nullptr)
      if (rd_kafka_error_t* error
          = rd_kafka_incremental_unassign(rk_.get(), parts))
        rd_kafka_error_destroy(error);
  } else {
    rd_kafka_assign(rk_.get(), nullptr);
  }
}

// --- the end ------------------------------------------------------------------------

void group_consumer::end_all(const prism::status& why) {
  for (auto& m : members_)
    m.target->end(why);
}

void group_consumer::close_consumer(const prism::status* failure) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    accepting_ = false;
  }
  // Members that came meanwhile hear of a failure too.
  apply_commands();
  if (failure != nullptr)
    end_all(*failure);
  if (rk_) {
    commit(true);
    queue_ptr events(rd_kafka_queue_new(rk_.get()));
    bool closed = false;
    rd_kafka_error_t* error
      = rd_kafka_consumer_close_queue(rk_.get(), events.get());
    if (error != nullptr) {
      log_line(rk_.get(),
               group_id_ + ": close failed: " + rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    } else {
      auto deadline = steady::now() + std::chrono::milliseconds(close_wait_ms);
      while (!(closed = rd_kafka_consumer_closed(rk_.get()))
             && steady::now() < deadline) {
        rd_kafka_event_t* event = rd_kafka_queue_poll(events.get(), 100);
        if (event == nullptr)
          continue;
        if (rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE) {
          if (cooperative(rk_.get())) {
            auto* parts = rd_kafka_event_topic_partition_list(event);
            if (rd_kafka_error_t* error
                = rd_kafka_incremental_unassign(rk_.get(), parts))
              rd_kafka_error_destroy(error);
          } else {
            rd_kafka_assign(rk_.get(), nullptr);
          }
        }
        rd_kafka_event_destroy(event);
      }
    }
    events.reset();
    {
      std::lock_guard<std::mutex> lock(inbox_mutex_);
      if (wake_queue_ != nullptr)
        rd_kafka_queue_destroy(wake_queue_);
      wake_queue_ = nullptr;
    }
    rd_kafka_destroy_flags(rk_.release(),
                           closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
  members_.clear();
  waiting_.clear();
  partitions_.clear();
  mark_finished();
}

} // namespace prism::drivers::kafka
