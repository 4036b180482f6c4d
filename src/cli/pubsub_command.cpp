// `prism pubsub`: a small PubSub client for trying the gateway by hand and
// for scripts. `publish` sends one message; `subscribe` prints messages as
// they arrive, one JSON object per line, until it has --count of them, the
// stream ends or it is interrupted.

#include <signal.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "cli/client.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "model/status.hpp"
#include "prism/v1/pubsub.grpc.pb.h"

namespace prism::cli {

namespace {

struct pubsub_options {
  std::string target = defaults::grpc_listen;
  tls_client_options tls;
  uint32_t timeout_ms = defaults::cli_call_timeout_ms;
  std::string request_id;
  std::string ns;
  std::string topic;
  std::string payload;
  std::vector<std::string> metadata;
  std::string subscription;
  bool earliest = false;
  uint64_t count = 0;
};

std::unique_ptr<v1::PubSub::Stub> connect(const pubsub_options& opts) {
  return v1::PubSub::NewStub(client_channel(opts.target, opts.tls));
}

int run_publish(const pubsub_options& opts) {
  v1::PublishRequest req;
  req.set_namespace_(opts.ns);
  req.set_topic(opts.topic);
  req.set_payload(opts.payload);
  for (auto& kv : opts.metadata) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CLI::ValidationError("--metadata",
                                 "\"" + kv + "\" is not KEY=VALUE");
    (*req.mutable_metadata())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto stub = connect(opts);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now()
                   + std::chrono::milliseconds(opts.timeout_ms));
  if (!opts.request_id.empty())
    ctx.AddMetadata("x-request-id", opts.request_id);
  add_credentials(ctx);
  v1::PublishResponse resp;
  auto st = stub->Publish(&ctx, req, &resp);
  if (!st.ok())
    return report_failure(ctx, st);
  std::cout << resp.message_id() << "\n";
  return 0;
}

/// Cancels a call when SIGINT or SIGTERM arrives. The signals are blocked
/// in this thread before the channel starts gRPC's threads, which inherit
/// the mask, and taken by a thread of the watch's own: cancelling a call is
/// not something a signal handler may do. A second signal ends the process
/// at once (exit 1), should the cancelled call not end.
class interrupt_watch {
public:
  explicit interrupt_watch(grpc::ClientContext& ctx) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this, &ctx] {
      constexpr auto poll = std::chrono::nanoseconds(
        std::chrono::milliseconds(defaults::cli_signal_poll_ms));
      const timespec tick{0, static_cast<long>(poll.count())};
      bool cancelled = false;
      while (!done_.load(std::memory_order_acquire)) {
        if (sigtimedwait(&signals_, nullptr, &tick) <= 0)
          continue;
        if (cancelled)
          std::_Exit(1);
        ctx.TryCancel();
        cancelled = true;
      }
    });
  }
  ~interrupt_watch() {
    done_.store(true, std::memory_order_release);
    thread_.join();
  }
  interrupt_watch(const interrupt_watch&) = delete;
  interrupt_watch& operator=(const interrupt_watch&) = delete;

private:
  sigset_t signals_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int run_subscribe(const pubsub_options& opts) {
  v1::SubscribeRequest req;
  req.set_namespace_(opts.ns);
  req.set_topic(opts.topic);
  req.set_subscription(opts.subscription);
  req.set_start(opts.earliest ? v1::EARLIEST : v1::LATEST);
  grpc::ClientContext ctx;
  interrupt_watch interrupts{ctx};
  auto stub = connect(opts);
  if (!opts.request_id.empty())
    ctx.AddMetadata("x-request-id", opts.request_id);
  add_credentials(ctx);
  auto reader = stub->Subscribe(&ctx, req);
  v1::Message m;
  uint64_t n = 0;
  while ((opts.count == 0 || n < opts.count) && reader->Read(&m)) {
    nlohmann::json line;
    line["topic"] = m.topic();
    line["message_id"] = m.message_id();
    line["publish_time_ms"] = m.publish_time_ms();
    line["payload"] = m.payload();
    auto& md = line["metadata"] = nlohmann::json::object();
    for (auto& [k, v] : m.metadata())
      md[k] = v;
    // Payloads are bytes: invalid UTF-8 is replaced, not an error.
    std::cout << line.dump(-1, ' ', false,
                           nlohmann::json::error_handler_t::replace)
              << std::endl;
    ++n;
  }
  if (opts.count != 0 && n >= opts.count) {
    ctx.TryCancel();
    while (reader->Read(&m)) {
    }
    reader->Finish();
    return 0;
  }
  auto st = reader->Finish();
  if (st.error_code() == grpc::StatusCode::CANCELLED)
    return 0;
  return report_failure(ctx, st);
}

} // namespace

void add_pubsub_command(CLI::App& app) {
  auto opts = std::make_shared<pubsub_options>();
  auto* ps = app.add_subcommand(
    "pubsub", "Call the PubSub API of a running gateway (see README.md)");
  ps->footer("With auth.mode token, set PRISM_TOKEN to the token to send; "
             "with mtls, give --tls-cert and --tls-key.");
  ps->require_subcommand(1);
  ps->add_option("--target", opts->target, "Gateway address HOST:PORT")
    ->capture_default_str();
  add_tls_options(*ps, opts->tls);
  ps->add_option("--timeout-ms", opts->timeout_ms, "Deadline of a publish")
    ->capture_default_str();
  check_request_id(
    *ps->add_option("--request-id", opts->request_id,
                    "x-request-id to send (default: the gateway makes one)"),
    defaults::request_id_bytes_max);

  auto* pub
    = ps->add_subcommand("publish", "Publish one message; prints its id");
  pub->add_option("namespace", opts->ns, "Namespace (pattern: pubsub)")
    ->required();
  pub->add_option("topic", opts->topic, "Topic")->required();
  pub->add_option("payload", opts->payload, "Payload")->required();
  pub->add_option("-m,--metadata", opts->metadata,
                  "Metadata entry KEY=VALUE (repeatable)");
  pub->callback([opts] {
    int rc = run_publish(*opts);
    if (rc != 0)
      throw CLI::RuntimeError(rc);
  });

  auto* sub = ps->add_subcommand(
    "subscribe", "Print a topic's messages as JSON lines until interrupted");
  sub->add_option("namespace", opts->ns, "Namespace (pattern: pubsub)")
    ->required();
  sub->add_option("topic", opts->topic, "Topic")->required();
  sub->add_option("-s,--subscription", opts->subscription,
                  "Shared subscription name (default: ephemeral)");
  sub->add_flag("--earliest", opts->earliest,
                "Start at the oldest message the backend holds");
  check_unsigned(
    *sub
       ->add_option("-n,--count", opts->count,
                    "Stop after this many messages (0 = until interrupted)")
       ->capture_default_str());
  sub->callback([opts] {
    int rc = run_subscribe(*opts);
    if (rc != 0)
      throw CLI::RuntimeError(rc);
  });
}

} // namespace prism::cli
