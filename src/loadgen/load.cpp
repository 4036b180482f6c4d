#include "loadgen/load.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "prism/v1/keyvalue.grpc.pb.h"

namespace prism::loadgen {

namespace {

namespace pb = prism::v1;
using clock_type = std::chrono::steady_clock;

/// A call that takes longer than this fails with DEADLINE_EXCEEDED, so a
/// stalled server ends the run instead of hanging it.
constexpr auto call_deadline = std::chrono::seconds{10};
constexpr auto connect_timeout = std::chrono::seconds{5};
/// Calls outstanding while preloading, at least.
constexpr uint32_t preload_concurrency_min = 16;

const char* status_name(grpc::StatusCode code) noexcept {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

std::string describe(const grpc::Status& status) {
  std::string text = status_name(status.error_code());
  if (!status.error_message().empty())
    text += ": " + status.error_message();
  return text;
}

/// Writes "bench-<n>" into `out`, reusing its storage.
void make_key(uint64_t n, std::string& out) {
  char buf[32] = "bench-";
  auto [end, ec] = std::to_chars(buf + 6, buf + sizeof(buf), n);
  (void)ec;
  out.assign(buf, end);
}

/// Printable filler, different per byte so compression cannot shrink it.
std::string make_value(uint32_t bytes) {
  std::string value(bytes, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& c : value) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>('!' + x % 94);
  }
  return value;
}

enum class phase { preload, measure };

class slot;

/// What all slots of one phase share.
struct run_state {
  phase what = phase::measure;
  const options* opt = nullptr;
  const std::string* value = nullptr;

  // measure: completions in [window_start, window_end) count.
  clock_type::time_point window_start;
  clock_type::time_point window_end;

  // preload: the next key to write; set when a write failed.
  std::atomic<uint64_t> next_key{0};
  std::atomic<bool> failed{false};

  std::mutex mutex;
  std::condition_variable changed;
  uint32_t active = 0;
  /// Slots whose next call is issued by the controlling thread, to bound the
  /// stack when gRPC runs completions inline.
  std::vector<slot*> deferred;

  void slot_done() {
    std::lock_guard<std::mutex> guard{mutex};
    --active;
    changed.notify_all();
  }

  void defer(slot* s) {
    std::lock_guard<std::mutex> guard{mutex};
    deferred.push_back(s);
    changed.notify_all();
  }
};

/// One outstanding call at a time, each issued from the previous one's
/// completion. Only one call of a slot runs at once, so its fields need no lock.
class slot {
public:
  slot(pb::KeyValue::Stub* stub, run_state& state, uint64_t seed)
    : stub_(stub), state_(state), rng_(seed | 1) {
    const auto& opt = *state.opt;
    get_req_.set_namespace_(opt.ns);
    set_req_.set_namespace_(opt.ns);
    set_req_.set_value(*state.value);
  }

  /// Issues the first call; false when the slot has nothing to do.
  bool start() { return issue(); }

  /// Issues the next call after a deferral.
  void resume() {
    if (!issue())
      state_.slot_done();
  }

  histogram latencies;
  uint64_t ok = 0;
  uint64_t misses = 0;
  uint64_t warmup_errors = 0;
  std::map<std::string, uint64_t> errors;
  std::string first_error;
  clock_type::time_point first_error_at = clock_type::time_point::max();

private:
  uint64_t next_random() noexcept {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  /// Starts the next call; false when the phase is over for this slot.
  bool issue() {
    const auto& opt = *state_.opt;
    uint64_t key;
    bool write;
    if (state_.what == phase::preload) {
      if (state_.failed.load(std::memory_order_relaxed))
        return false;
      key = state_.next_key.fetch_add(1, std::memory_order_relaxed);
      if (key >= opt.keys)
        return false;
      write = true;
    } else {
      key = next_random() % opt.keys;
      switch (opt.rpc) {
        case rpc_kind::get: write = false; break;
        case rpc_kind::set: write = true; break;
        default:
          write = static_cast<double>(next_random() >> 11) * 0x1.0p-53
            < opt.set_ratio;
      }
    }
    ctx_ = std::make_unique<grpc::ClientContext>();
    started_ = clock_type::now();
    ctx_->set_deadline(std::chrono::system_clock::now() + call_deadline);
    write_ = write;
    if (write) {
      make_key(key, *set_req_.mutable_key());
      stub_->async()->Set(ctx_.get(), &set_req_, &set_resp_,
                          [this](grpc::Status s) { done(std::move(s)); });
    } else {
      make_key(key, *get_req_.mutable_key());
      stub_->async()->Get(ctx_.get(), &get_req_, &get_resp_,
                          [this](grpc::Status s) { done(std::move(s)); });
    }
    return true;
  }

  void done(grpc::Status status) {
    auto now = clock_type::now();
    if (state_.what == phase::preload) {
      if (!status.ok()) {
        if (first_error.empty()) {
          first_error = "Set " + set_req_.key() + ": " + describe(status);
          first_error_at = now;
        }
        errors[status_name(status.error_code())] += 1;
        state_.failed.store(true, std::memory_order_relaxed);
      } else {
        ++ok;
      }
    } else if (now >= state_.window_end) {
      // Past the window: not counted, and the slot stops.
      state_.slot_done();
      return;
    } else {
      bool counted = now >= state_.window_start;
      if (status.ok()) {
        if (counted) {
          ++ok;
          latencies.record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_)
              .count()));
          if (!write_ && !get_resp_.found())
            ++misses;
        }
      } else {
        if (first_error.empty()) {
          first_error = std::string{write_ ? "Set " : "Get "}
            + (write_ ? set_req_.key() : get_req_.key()) + ": "
            + describe(status);
          first_error_at = now;
        }
        if (counted)
          errors[status_name(status.error_code())] += 1;
        else
          ++warmup_errors;
      }
    }
    // gRPC may run a completion inline in the call that issued it (say, on a
    // broken channel); past a few levels, let the controlling thread go on.
    static thread_local int depth = 0;
    if (depth >= 8) {
      state_.defer(this);
      return;
    }
    ++depth;
    bool more = issue();
    --depth;
    if (!more)
      state_.slot_done();
  }

  pb::KeyValue::Stub* stub_;
  run_state& state_;
  uint64_t rng_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  clock_type::time_point started_;
  bool write_ = false;
  pb::GetRequest get_req_;
  pb::GetResponse get_resp_;
  pb::SetRequest set_req_;
  pb::SetResponse set_resp_;
};

/// Starts the slots and waits until every one has stopped.
void drive(run_state& state, std::vector<std::unique_ptr<slot>>& slots) {
  {
    std::lock_guard<std::mutex> guard{state.mutex};
    state.active = static_cast<uint32_t>(slots.size());
  }
  for (auto& s : slots)
    if (!s->start())
      state.slot_done();
  std::unique_lock<std::mutex> lock{state.mutex};
  for (;;) {
    state.changed.wait(
      lock, [&] { return state.active == 0 || !state.deferred.empty(); });
    if (state.active == 0)
      return;
    auto ready = std::move(state.deferred);
    state.deferred.clear();
    lock.unlock();
    for (auto* s : ready)
      s->resume();
    lock.lock();
  }
}

std::shared_ptr<grpc::Channel> connect(const std::string& target, uint32_t n) {
  grpc::ChannelArguments args;
  // Channels with equal arguments would share one TCP connection; a channel
  // of its own subchannel pool and a distinct argument gets its own.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("prism.bench.channel", static_cast<int>(n));
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(
    target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now()
                                 + connect_timeout))
    throw std::runtime_error("cannot connect to " + target + " within "
                             + std::to_string(connect_timeout.count()) + " s");
  return channel;
}

// --- open loop ---------------------------------------------------------------

constexpr const char* retry_after_header = "x-prism-retry-after-ms";
constexpr int status_codes = 17;

/// What one thread recorded of the answers it completed.
struct answer_stats {
  histogram ok_latency;
  histogram rejected_latency;
  uint64_t ok = 0;
  uint64_t misses = 0;
  uint64_t retry_hints = 0;
  uint64_t warmup_errors = 0;
  /// Failed calls in the window by status code (index = code).
  uint64_t by_code[status_codes] = {};
  /// The first failure other than RESOURCE_EXHAUSTED, and the first refusal.
  std::string first_error;
  clock_type::time_point first_error_at = clock_type::time_point::max();
  std::string first_refusal;
  clock_type::time_point first_refusal_at = clock_type::time_point::max();
};

std::atomic<uint64_t> next_registry_id{1};

/// One answer_stats per thread that completes calls (gRPC's threads),
/// created on its first completion, so recording takes no lock; merged once
/// no call is outstanding.
class stats_registry {
public:
  answer_stats& local() {
    // Shared by all registries: `owner` tells whether `mine` is this one's.
    thread_local uint64_t owner = 0;
    thread_local answer_stats* mine = nullptr;
    if (owner != id_) {
      auto fresh = std::make_unique<answer_stats>();
      std::lock_guard<std::mutex> guard{mutex_};
      all_.push_back(std::move(fresh));
      mine = all_.back().get();
      owner = id_;
    }
    return *mine;
  }

  /// Only once no call is outstanding.
  const std::vector<std::unique_ptr<answer_stats>>& all() const { return all_; }

private:
  const uint64_t id_ = next_registry_id.fetch_add(1);
  std::mutex mutex_;
  std::vector<std::unique_ptr<answer_stats>> all_;
};

struct open_run {
  const options* opt = nullptr;
  const std::string* value = nullptr;
  /// The timetable starts here; calls due in [window_start, window_end)
  /// are measured.
  clock_type::time_point start;
  clock_type::time_point window_start;
  clock_type::time_point window_end;

  std::atomic<uint32_t> outstanding{0};
  std::mutex mutex;
  std::condition_variable idle;
  stats_registry stats;

  /// A call completed. Under the lock, so that wait_idle cannot return (and
  /// the run be destroyed) between the last decrement and the notification.
  void finished() {
    std::lock_guard<std::mutex> guard{mutex};
    if (outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1)
      idle.notify_all();
  }

  void wait_idle() {
    std::unique_lock<std::mutex> lock{mutex};
    idle.wait(lock, [this] { return outstanding.load() == 0; });
  }
};

/// One call, owned by itself from its send to its completion.
struct open_call {
  explicit open_call(open_run& r) : run(r) {}

  open_run& run;
  grpc::ClientContext ctx;
  clock_type::time_point sent_at;
  bool counted = false;
  bool write = false;
  pb::GetRequest get_req;
  pb::GetResponse get_resp;
  pb::SetRequest set_req;
  pb::SetResponse set_resp;
};

uint64_t nanos(clock_type::duration d) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

void complete(open_call* call, const grpc::Status& status) {
  auto now = clock_type::now();
  open_run& run = call->run;
  answer_stats& s = run.stats.local();
  if (status.ok()) {
    if (call->counted) {
      ++s.ok;
      s.ok_latency.record(nanos(now - call->sent_at));
      if (!call->write && !call->get_resp.found())
        ++s.misses;
    }
  } else {
    auto code = status.error_code();
    bool refused = code == grpc::StatusCode::RESOURCE_EXHAUSTED;
    auto& first = refused ? s.first_refusal : s.first_error;
    auto& first_at = refused ? s.first_refusal_at : s.first_error_at;
    if (first.empty()) {
      first = std::string{call->write ? "Set " : "Get "}
        + (call->write ? call->set_req.key() : call->get_req.key()) + ": "
        + describe(status);
      first_at = now;
    }
    if (call->counted) {
      int index = static_cast<int>(code);
      s.by_code[index >= 0 && index < status_codes ? index : 2] += 1;
      if (refused) {
        s.rejected_latency.record(nanos(now - call->sent_at));
        const auto& trailers = call->ctx.GetServerTrailingMetadata();
        if (trailers.find(grpc::string_ref{retry_after_header})
            != trailers.end())
          ++s.retry_hints;
      }
    } else if (!refused) {
      ++s.warmup_errors;
    }
  }
  delete call;
  run.finished();
}

/// What one channel's scheduler did with the calls due in the window.
struct schedule_result {
  histogram lag;
  uint64_t offered = 0;
  uint64_t sent = 0;
  uint64_t dropped = 0;
  uint64_t behind = 0;
};

/// Issues the calls of channel `index` of `channels`: call k is due at
/// start + (k + index / channels) * channels / rate, an absolute timetable,
/// so a late send does not shift the ones after it. Stops when the window
/// ends; calls due in the window that it has not reached by then count as
/// behind.
void schedule(open_run& run, pb::KeyValue::Stub* stub, uint32_t index,
              uint64_t seed, schedule_result& out) {
  const auto& opt = *run.opt;
  const double interval = static_cast<double>(opt.channels) / opt.rate;
  const double phase = static_cast<double>(index) / opt.channels;
  const double span = opt.warmup_s + opt.duration_s;
  auto due_at = [&](uint64_t k) {
    return run.start
      + std::chrono::duration_cast<clock_type::duration>(
             std::chrono::duration<double>{(static_cast<double>(k) + phase)
                                           * interval});
  };
  uint64_t rng = seed | 1;
  auto next_random = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  for (uint64_t k = 0;; ++k) {
    if ((static_cast<double>(k) + phase) * interval >= span)
      break;
    auto due = due_at(k);
    if (due >= run.window_end)
      break;
    auto now = clock_type::now();
    if (now < due) {
      std::this_thread::sleep_until(due);
      now = clock_type::now();
    }
    if (now >= run.window_end) {
      // The window is over before the client got here.
      for (uint64_t j = k; (static_cast<double>(j) + phase) * interval < span;
           ++j) {
        auto late = due_at(j);
        if (late >= run.window_end)
          break;
        if (late >= run.window_start)
          ++out.behind;
      }
      break;
    }
    bool counted = due >= run.window_start;
    if (counted)
      ++out.offered;
    if (run.outstanding.load(std::memory_order_relaxed)
        >= opt.max_outstanding) {
      if (counted)
        ++out.dropped;
      continue;
    }
    run.outstanding.fetch_add(1, std::memory_order_relaxed);
    if (counted) {
      ++out.sent;
      out.lag.record(nanos(now - due));
    }
    uint64_t key = next_random() % opt.keys;
    bool write;
    switch (opt.rpc) {
      case rpc_kind::get: write = false; break;
      case rpc_kind::set: write = true; break;
      default:
        write = static_cast<double>(next_random() >> 11) * 0x1.0p-53
          < opt.set_ratio;
    }
    auto* call = new open_call{run};
    call->counted = counted;
    call->write = write;
    call->ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
    call->sent_at = clock_type::now();
    if (write) {
      call->set_req.set_namespace_(opt.ns);
      make_key(key, *call->set_req.mutable_key());
      call->set_req.set_value(*run.value);
      stub->async()->Set(&call->ctx, &call->set_req, &call->set_resp,
                         [call](grpc::Status s) { complete(call, s); });
    } else {
      call->get_req.set_namespace_(opt.ns);
      make_key(key, *call->get_req.mutable_key());
      stub->async()->Get(&call->ctx, &call->get_req, &call->get_resp,
                         [call](grpc::Status s) { complete(call, s); });
    }
  }
}

report run_open_loop(
  const options& opt,
  const std::vector<std::unique_ptr<pb::KeyValue::Stub>>& stubs,
  const std::string& value) {
  open_run run;
  run.opt = &opt;
  run.value = &value;
  auto to_clock = [](double s) {
    return std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>{s});
  };
  // A moment for the threads to start, so the first calls are not late.
  run.start = clock_type::now() + std::chrono::milliseconds{5};
  run.window_start = run.start + to_clock(opt.warmup_s);
  run.window_end = run.window_start + to_clock(opt.duration_s);

  std::vector<schedule_result> results(stubs.size());
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < stubs.size(); ++i)
    threads.emplace_back(schedule, std::ref(run), stubs[i].get(), i,
                         0x5851f42d4c957f2dull * (i + 1)
                           + 0x14057b7ef767814full,
                         std::ref(results[i]));
  for (auto& t : threads)
    t.join();
  // Every call ends by its deadline at the latest.
  run.wait_idle();

  report out;
  out.open_loop = true;
  out.target_rps = opt.rate;
  histogram lag;
  for (const auto& r : results) {
    out.offered += r.offered;
    out.sent += r.sent;
    out.client_dropped += r.dropped;
    out.client_behind += r.behind;
    lag.merge(r.lag);
  }
  histogram ok_latency;
  histogram rejected_latency;
  uint64_t by_code[status_codes] = {};
  auto first_error_at = clock_type::time_point::max();
  auto first_refusal_at = clock_type::time_point::max();
  std::string first_refusal;
  for (const auto& s : run.stats.all()) {
    ok_latency.merge(s->ok_latency);
    rejected_latency.merge(s->rejected_latency);
    out.requests += s->ok;
    out.misses += s->misses;
    out.retry_hints += s->retry_hints;
    out.warmup_errors += s->warmup_errors;
    for (int c = 0; c < status_codes; ++c)
      by_code[c] += s->by_code[c];
    if (s->first_error_at < first_error_at) {
      first_error_at = s->first_error_at;
      out.first_error = s->first_error;
    }
    if (s->first_refusal_at < first_refusal_at) {
      first_refusal_at = s->first_refusal_at;
      first_refusal = s->first_refusal;
    }
  }
  // The first failure that is not a refusal says more; else the first refusal.
  if (out.first_error.empty())
    out.first_error = first_refusal;
  for (int c = 0; c < status_codes; ++c)
    if (by_code[c] > 0)
      out.errors[status_name(static_cast<grpc::StatusCode>(c))] += by_code[c];
  out.rejected
    = by_code[static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED)];

  out.seconds
    = std::chrono::duration<double>(run.window_end - run.window_start).count();
  auto per_second = [&](uint64_t n) {
    return out.seconds > 0 ? static_cast<double>(n) / out.seconds : 0.0;
  };
  out.rps = per_second(out.requests);
  out.offered_rps = per_second(out.offered);
  out.rejected_rps = per_second(out.rejected);
  auto us = [](uint64_t ns) {
    return static_cast<double>(ns) / 1000.0;
  };
  out.p50_us = us(ok_latency.quantile(0.50));
  out.p90_us = us(ok_latency.quantile(0.90));
  out.p99_us = us(ok_latency.quantile(0.99));
  out.max_us = us(ok_latency.max());
  out.rejected_p50_us = us(rejected_latency.quantile(0.50));
  out.rejected_p99_us = us(rejected_latency.quantile(0.99));
  out.rejected_max_us = us(rejected_latency.max());
  out.send_lag_p50_us = us(lag.quantile(0.50));
  out.send_lag_p99_us = us(lag.quantile(0.99));
  out.send_lag_max_us = us(lag.max());
  return out;
}

} // namespace

std::optional<rpc_kind> parse_rpc_kind(const std::string& text) {
  if (text == "get")
    return rpc_kind::get;
  if (text == "set")
    return rpc_kind::set;
  if (text == "mixed")
    return rpc_kind::mixed;
  return std::nullopt;
}

const char* to_string(rpc_kind kind) noexcept {
  switch (kind) {
    case rpc_kind::get: return "get";
    case rpc_kind::set: return "set";
    case rpc_kind::mixed: return "mixed";
  }
  return "get";
}

std::string validate(const options& opt) {
  auto colon = opt.target.rfind(':');
  if (opt.target.empty() || colon == std::string::npos || colon == 0
      || colon + 1 == opt.target.size())
    return "--target: expected HOST:PORT, got '" + opt.target + "'";
  auto port_text = opt.target.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size()
      || port == 0 || port > 65535)
    return "--target: the port must be 1..65535, got '" + port_text + "'";
  if (!(opt.set_ratio >= 0.0 && opt.set_ratio <= 1.0))
    return "--set-ratio: must be between 0 and 1";
  if (opt.ns.empty())
    return "--namespace: must not be empty";
  if (opt.concurrency < 1 || opt.concurrency > concurrency_max)
    return "--concurrency: must be 1.." + std::to_string(concurrency_max);
  if (opt.channels < 1 || opt.channels > channels_max)
    return "--channels: must be 1.." + std::to_string(channels_max);
  if (opt.rate == 0 && opt.channels > opt.concurrency)
    return "--channels: more channels (" + std::to_string(opt.channels)
      + ") than outstanding calls (--concurrency "
      + std::to_string(opt.concurrency) + ") would leave some idle";
  if (!(opt.duration_s > 0.0 && opt.duration_s <= duration_max_s))
    return "--duration: must be more than 0 and at most "
      + std::to_string(static_cast<int>(duration_max_s)) + " seconds";
  if (!(opt.warmup_s >= 0.0 && opt.warmup_s <= duration_max_s))
    return "--warmup: must be 0.."
      + std::to_string(static_cast<int>(duration_max_s)) + " seconds";
  if (opt.value_bytes > value_bytes_max)
    return "--value-bytes: must be at most " + std::to_string(value_bytes_max)
      + " (the gateway's default value limit)";
  if (opt.keys < 1 || opt.keys > keys_max)
    return "--keys: must be 1.." + std::to_string(keys_max);
  if (!(opt.rate >= 0.0 && opt.rate <= rate_max))
    return "--rate: must be 0 (closed loop) or calls per second up to "
      + std::to_string(static_cast<uint64_t>(rate_max));
  if (opt.max_outstanding < 1 || opt.max_outstanding > max_outstanding_max)
    return "--max-outstanding: must be 1.."
      + std::to_string(max_outstanding_max);
  return {};
}

uint64_t report::error_count() const {
  uint64_t n = warmup_errors;
  for (const auto& [code, count] : errors)
    n += count;
  return n;
}

uint64_t report::other_error_count() const {
  uint64_t n = warmup_errors;
  for (const auto& [code, count] : errors)
    if (code != "RESOURCE_EXHAUSTED")
      n += count;
  return n;
}

report run(const options& opt) {
  if (auto problem = validate(opt); !problem.empty())
    throw std::runtime_error(problem);

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<pb::KeyValue::Stub>> stubs;
  for (uint32_t i = 0; i < opt.channels; ++i) {
    channels.push_back(connect(opt.target, i));
    stubs.push_back(pb::KeyValue::NewStub(channels.back()));
  }
  const std::string value = make_value(opt.value_bytes);

  if (opt.rpc != rpc_kind::set) {
    run_state state;
    state.what = phase::preload;
    state.opt = &opt;
    state.value = &value;
    uint32_t n = std::min<uint32_t>(
      opt.keys, std::max(opt.concurrency, preload_concurrency_min));
    std::vector<std::unique_ptr<slot>> slots;
    for (uint32_t i = 0; i < n; ++i)
      slots.push_back(
        std::make_unique<slot>(stubs[i % stubs.size()].get(), state, i + 1));
    drive(state, slots);
    for (auto& s : slots)
      if (!s->first_error.empty())
        throw std::runtime_error("preloading " + std::to_string(opt.keys)
                                 + " keys into namespace '" + opt.ns
                                 + "' failed: " + s->first_error);
  }

  if (opt.rate > 0)
    return run_open_loop(opt, stubs, value);

  run_state state;
  state.what = phase::measure;
  state.opt = &opt;
  state.value = &value;
  std::vector<std::unique_ptr<slot>> slots;
  for (uint32_t i = 0; i < opt.concurrency; ++i)
    slots.push_back(std::make_unique<slot>(stubs[i % stubs.size()].get(), state,
                                           0x5851f42d4c957f2dull * (i + 1)
                                             + 0x14057b7ef767814full));
  auto start = clock_type::now();
  auto to_clock = [](double s) {
    return std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>{s});
  };
  state.window_start = start + to_clock(opt.warmup_s);
  state.window_end = state.window_start + to_clock(opt.duration_s);
  drive(state, slots);

  report out;
  histogram all;
  auto first_error_at = clock_type::time_point::max();
  for (auto& s : slots) {
    all.merge(s->latencies);
    out.requests += s->ok;
    out.misses += s->misses;
    out.warmup_errors += s->warmup_errors;
    for (const auto& [code, count] : s->errors)
      out.errors[code] += count;
    if (s->first_error_at < first_error_at) {
      first_error_at = s->first_error_at;
      out.first_error = s->first_error;
    }
  }
  out.seconds
    = std::chrono::duration<double>(state.window_end - state.window_start)
        .count();
  out.rps = out.seconds > 0 ? static_cast<double>(out.requests) / out.seconds
                            : 0;
  out.p50_us = static_cast<double>(all.quantile(0.50)) / 1000.0;
  out.p90_us = static_cast<double>(all.quantile(0.90)) / 1000.0;
  out.p99_us = static_cast<double>(all.quantile(0.99)) / 1000.0;
  out.max_us = static_cast<double>(all.max()) / 1000.0;
  return out;
}

// --- histogram ---------------------------------------------------------------

histogram::histogram()
  : buckets_(static_cast<std::size_t>(top_bit - sub_bits + 2) << sub_bits, 0) {}

std::size_t histogram::index_of(uint64_t ns) noexcept {
  constexpr uint64_t sub = uint64_t{1} << sub_bits;
  if (ns < sub)
    return static_cast<std::size_t>(ns);
  int msb = 63 - __builtin_clzll(ns);
  if (msb > top_bit) {
    // Clamp into the last bucket.
    return (static_cast<std::size_t>(top_bit - sub_bits + 2) << sub_bits) - 1;
  }
  int shift = msb - sub_bits;
  // (msb - sub_bits) rows of `sub` buckets lie before this row, plus the exact
  // row; the mantissa (ns >> shift) is in [sub, 2 sub).
  return (static_cast<std::size_t>(shift) << sub_bits)
    + static_cast<std::size_t>(ns >> shift);
}

uint64_t histogram::value_of(std::size_t index) noexcept {
  constexpr std::size_t sub = std::size_t{1} << sub_bits;
  if (index < 2 * sub)
    return index;
  std::size_t shift = index / sub - 1;
  uint64_t mantissa = index % sub + sub;
  uint64_t low = mantissa << shift;
  uint64_t width = uint64_t{1} << shift;
  // The middle of the bucket.
  return low + width / 2;
}

void histogram::record(uint64_t ns) noexcept {
  ++buckets_[index_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

void histogram::merge(const histogram& other) noexcept {
  for (std::size_t i = 0; i < buckets_.size(); ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t histogram::quantile(double q) const noexcept {
  if (count_ == 0)
    return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  if (rank == count_)
    return max_;
  uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank)
      return std::min(value_of(i), max_);
  }
  return max_;
}

} // namespace prism::loadgen
