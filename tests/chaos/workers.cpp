#include "workers.hpp"

#include <algorithm>
#include <functional>
#include <random>
#include <thread>

#include "prism/v1/keyvalue.grpc.pb.h"
#include "prism/v1/pubsub.grpc.pb.h"

namespace prism::chaos {

namespace {

using clock_type = std::chrono::steady_clock;

// gRPC waits this long before the first reconnect and at most this long
// between two: the gateway is back within a few seconds of a kill, and the
// time until a client notices is part of the recovery measured. (gRPC's
// "min reconnect backoff" is the time a connection attempt may take; its
// default stays, since a short one cuts off handshakes with a gateway that
// is busy starting.)
constexpr int reconnect_backoff_ms = 100;
constexpr int reconnect_backoff_max_ms = 500;
// The gateway's hint after RESOURCE_EXHAUSTED is obeyed up to this long.
constexpr std::chrono::milliseconds retry_hint_max{2000};
// Between two attempts to open the subscription, or to read a key finally.
constexpr std::chrono::milliseconds reopen_pause{100};
// Shares of the KeyValue operations, in percent; the rest are Deletes.
constexpr int set_percent = 50;
constexpr int get_percent = 35;

constexpr const char* retry_after_header = "x-prism-retry-after-ms";

void add_token(grpc::ClientContext& ctx, const client_options& opt) {
  if (!opt.token.empty())
    ctx.AddMetadata("authorization", "Bearer " + opt.token);
}

void prepare(grpc::ClientContext& ctx, const client_options& opt) {
  ctx.set_deadline(std::chrono::system_clock::now() + opt.deadline);
  add_token(ctx, opt);
}

/// The retry hint of a refused call, capped; zero when it has none.
std::chrono::milliseconds retry_hint(const grpc::ClientContext& ctx,
                                     const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED)
    return std::chrono::milliseconds{0};
  auto& trailers = ctx.GetServerTrailingMetadata();
  auto found = trailers.find(grpc::string_ref{retry_after_header});
  if (found == trailers.end())
    return std::chrono::milliseconds{0};
  std::string text(found->second.data(), found->second.size());
  char* end = nullptr;
  auto ms = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || ms < 0)
    return std::chrono::milliseconds{0};
  return std::min(std::chrono::milliseconds{ms}, retry_hint_max);
}

/// A fixed timetable of calls: the next is due one period after the
/// previous was due, and a timetable that fell behind (a call took its whole
/// deadline) starts afresh instead of firing a burst.
class pacer {
public:
  explicit pacer(double per_second)
    : period_(std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(1.0 / per_second))),
      due_(clock_type::now()) {}

  /// Waits for the next call's turn, at least `extra` from now; false once
  /// stopped.
  bool next(stop_signal& stop, std::chrono::milliseconds extra) {
    auto now = clock_type::now();
    due_ = std::max(due_ + period_, now - period_);
    return stop.wait_until(std::max(due_, now + extra));
  }

private:
  clock_type::duration period_;
  clock_type::time_point due_;
};

nlohmann::json call_record(const char* type, const client_options& opt,
                           double start) {
  return {{"t", type}, {"c", opt.client}, {"start", start}};
}

} // namespace

void stop_signal::stop() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
}

bool stop_signal::wait_until(clock_type::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_until(lock, until, [this] { return stopped_.load(); });
  return !stopped_;
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, reconnect_backoff_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, reconnect_backoff_max_ms);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
              reconnect_backoff_ms);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

std::string key_name(const std::string& client, const std::string& ns,
                     uint32_t index) {
  return client + "." + ns + ".k" + std::to_string(index);
}

void run_kv_worker(const client_options& opt, const std::string& ns,
                   history& out, stop_signal& stop) {
  auto stub = prism::v1::KeyValue::NewStub(make_channel(opt.target));
  std::mt19937_64 random(opt.seed ^ std::hash<std::string>{}(opt.client + ns));
  std::uniform_int_distribution<uint32_t> pick_key(0, opt.keys - 1);
  std::uniform_int_distribution<int> pick_op(0, 99);
  pacer pace(opt.kv_rate);
  uint64_t written = 0;
  std::chrono::milliseconds hint{0};
  while (pace.next(stop, hint)) {
    auto key = key_name(opt.client, ns, pick_key(random));
    int op = pick_op(random);
    grpc::ClientContext ctx;
    prepare(ctx, opt);
    auto record = call_record("kv", opt, now_ms());
    record["ns"] = ns;
    record["k"] = key;
    grpc::Status status;
    if (op < set_percent) {
      auto value = opt.client + "." + ns + ".v" + std::to_string(++written);
      prism::v1::SetRequest req;
      req.set_namespace_(ns);
      req.set_key(key);
      req.set_value(value);
      prism::v1::SetResponse resp;
      status = stub->Set(&ctx, req, &resp);
      record["op"] = "set";
      record["v"] = value;
      if (status.ok())
        record["ver"] = resp.version();
    } else if (op < set_percent + get_percent) {
      prism::v1::GetRequest req;
      req.set_namespace_(ns);
      req.set_key(key);
      prism::v1::GetResponse resp;
      status = stub->Get(&ctx, req, &resp);
      record["op"] = "get";
      if (status.ok()) {
        record["found"] = resp.found();
        if (resp.found()) {
          record["v"] = resp.value();
          record["ver"] = resp.version();
        }
      }
    } else {
      prism::v1::DeleteRequest req;
      req.set_namespace_(ns);
      req.set_key(key);
      prism::v1::DeleteResponse resp;
      status = stub->Delete(&ctx, req, &resp);
      record["op"] = "delete";
      if (status.ok())
        record["existed"] = resp.existed();
    }
    record["end"] = now_ms();
    add_status(record, status);
    out.write(record);
    hint = retry_hint(ctx, status);
  }
}

void run_publisher(const client_options& opt, history& out, stop_signal& stop) {
  auto stub = prism::v1::PubSub::NewStub(make_channel(opt.target));
  pacer pace(opt.publish_rate);
  uint64_t published = 0;
  std::chrono::milliseconds hint{0};
  while (pace.next(stop, hint)) {
    auto payload = opt.client + ".p" + std::to_string(++published);
    grpc::ClientContext ctx;
    prepare(ctx, opt);
    auto record = call_record("pub", opt, now_ms());
    record["ns"] = opt.pubsub_namespace;
    record["topic"] = opt.topic;
    record["payload"] = payload;
    prism::v1::PublishRequest req;
    req.set_namespace_(opt.pubsub_namespace);
    req.set_topic(opt.topic);
    req.set_payload(payload);
    prism::v1::PublishResponse resp;
    auto status = stub->Publish(&ctx, req, &resp);
    record["end"] = now_ms();
    if (status.ok())
      record["id"] = resp.message_id();
    add_status(record, status);
    out.write(record);
    hint = retry_hint(ctx, status);
  }
}

subscriber::subscriber(const client_options& opt, history& out,
                       stop_signal& stop)
  : opt_(opt), out_(out), stop_(stop) {}

void subscriber::run() {
  auto stub = prism::v1::PubSub::NewStub(make_channel(opt_.target));
  while (!stop_.stopped()) {
    auto opened = clock_type::now();
    open_once(*stub);
    if (!stop_.wait_until(opened + reopen_pause))
      break;
  }
}

void subscriber::open_once(prism::v1::PubSub::Stub& stub) {
  auto ctx = std::make_shared<grpc::ClientContext>();
  add_token(*ctx, opt_);
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stop_.stopped())
      return;
    current_ = ctx;
  }
  prism::v1::SubscribeRequest req;
  req.set_namespace_(opt_.pubsub_namespace);
  req.set_topic(opt_.topic);
  req.set_subscription(opt_.subscription);
  req.set_start(prism::v1::EARLIEST);
  auto start = now_ms();
  auto reader = stub.Subscribe(ctx.get(), req);
  uint64_t received = 0;
  prism::v1::Message message;
  while (reader->Read(&message)) {
    ++received;
    out_.write({{"t", "recv"},
                {"c", opt_.client},
                {"sub", opt_.subscription},
                {"at", now_ms()},
                {"payload", message.payload()},
                {"id", message.message_id()}});
  }
  auto status = reader->Finish();
  nlohmann::json record = {{"t", "stream"},
                           {"c", opt_.client},
                           {"start", start},
                           {"end", now_ms()},
                           {"received", received}};
  add_status(record, status);
  out_.write(record);
  std::lock_guard<std::mutex> guard(mutex_);
  current_.reset();
}

void subscriber::cancel() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (current_)
    current_->TryCancel();
}

int run_final_read(const client_options& opt,
                   const std::vector<std::string>& clients, history& out) {
  auto stub = prism::v1::KeyValue::NewStub(make_channel(opt.target));
  int unread = 0;
  for (auto& client : clients) {
    for (auto& ns : opt.kv_namespaces) {
      for (uint32_t i = 0; i < opt.keys; ++i) {
        auto key = key_name(client, ns, i);
        auto give_up = clock_type::now() + opt.final_read_timeout;
        nlohmann::json record;
        for (;;) {
          auto attempt = clock_type::now();
          grpc::ClientContext ctx;
          prepare(ctx, opt);
          record = {{"t", "final"},
                    {"c", client},
                    {"ns", ns},
                    {"k", key},
                    {"start", now_ms()}};
          prism::v1::GetRequest req;
          req.set_namespace_(ns);
          req.set_key(key);
          prism::v1::GetResponse resp;
          auto status = stub->Get(&ctx, req, &resp);
          record["end"] = now_ms();
          add_status(record, status);
          if (status.ok()) {
            record["found"] = resp.found();
            if (resp.found()) {
              record["v"] = resp.value();
              record["ver"] = resp.version();
            }
            break;
          }
          if (clock_type::now() >= give_up) {
            ++unread;
            break;
          }
          std::this_thread::sleep_until(attempt + reopen_pause);
        }
        out.write(record);
      }
    }
  }
  return unread;
}

} // namespace prism::chaos
