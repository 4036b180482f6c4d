// prism-chaos-client: the load of scripts/chaos. Three modes:
//
//   load        KeyValue workers (one thread per namespace) and a publisher,
//               until SIGTERM or SIGINT
//   subscribe   the durable subscription, reopened whenever it ends, until
//               SIGTERM or SIGINT
//   final-read  one successful Get of every key of the named clients
//
// Every call goes into a history file (JSON lines) that scripts/chaos-check
// reads; docs/CHAOS.md describes it. The bearer token, if any, comes from
// the environment variable PRISM_TOKEN.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "history.hpp"
#include "workers.hpp"

namespace {

using namespace prism::chaos;

// Exit codes: 0 done, 1 a final read gave up or the history cannot be
// written, 2 a flag the client cannot use.
constexpr int exit_usage = 2;
constexpr int exit_failed = 1;

/// Blocks the stop signals in every thread started after it, so that the
/// main thread alone takes them with sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void wait_for_stop_signal(const sigset_t& set) {
  int signal = 0;
  sigwait(&set, &signal);
}

int run_load(const client_options& opt, const std::string& path) {
  auto signals = block_stop_signals();
  history out(path);
  stop_signal stop;
  std::vector<std::thread> workers;
  for (auto& ns : opt.kv_namespaces)
    workers.emplace_back([&, ns] { run_kv_worker(opt, ns, out, stop); });
  if (!opt.pubsub_namespace.empty() && opt.publish_rate > 0)
    workers.emplace_back([&] { run_publisher(opt, out, stop); });
  wait_for_stop_signal(signals);
  stop.stop();
  for (auto& worker : workers)
    worker.join();
  return 0;
}

int run_subscribe(const client_options& opt, const std::string& path) {
  auto signals = block_stop_signals();
  history out(path);
  stop_signal stop;
  subscriber sub(opt, out, stop);
  std::thread reader([&] { sub.run(); });
  wait_for_stop_signal(signals);
  stop.stop();
  sub.cancel();
  reader.join();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{
    "prism-chaos-client: the load and the observer of scripts/chaos"};
  app.require_subcommand(1);
  client_options opt;
  if (const char* token = std::getenv("PRISM_TOKEN"))
    opt.token = token;
  std::string path;
  int64_t deadline_ms = opt.deadline.count();
  std::vector<std::string> clients;

  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--target", opt.target, "host:port of the gateway")
      ->required();
    cmd->add_option("--history", path, "the history file (appended to)")
      ->required();
    cmd->add_option("--deadline-ms", deadline_ms, "every call's deadline")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}));
  };
  auto* load
    = app.add_subcommand("load", "KeyValue and Publish load until SIGTERM");
  common(load);
  load->add_option("--client", opt.client, "this client's name")->required();
  load->add_option("--kv", opt.kv_namespaces,
                   "a KeyValue namespace (repeatable)");
  load->add_option("--keys", opt.keys, "keys per namespace")
    ->check(CLI::Range(1, 1000));
  load
    ->add_option("--kv-rate", opt.kv_rate,
                 "KeyValue calls per second per namespace")
    ->check(CLI::Range(0.1, 10000.0));
  load->add_option("--pubsub", opt.pubsub_namespace, "the PubSub namespace");
  load->add_option("--topic", opt.topic, "the topic");
  load->add_option("--publish-rate", opt.publish_rate, "publishes per second")
    ->check(CLI::Range(0.0, 10000.0));
  load->add_option("--seed", opt.seed,
                   "seeds the choice of keys and operations");

  auto* subscribe
    = app.add_subcommand("subscribe", "the durable subscription until SIGTERM");
  common(subscribe);
  subscribe->add_option("--client", opt.client, "this client's name")
    ->required();
  subscribe
    ->add_option("--pubsub", opt.pubsub_namespace, "the PubSub namespace")
    ->required();
  subscribe->add_option("--topic", opt.topic, "the topic");
  subscribe->add_option("--subscription", opt.subscription,
                        "the subscription's name");

  auto* final_read = app.add_subcommand("final-read", "read every key once");
  common(final_read);
  final_read
    ->add_option("--client", clients,
                 "a client whose keys to read (repeatable)")
    ->required();
  final_read
    ->add_option("--kv", opt.kv_namespaces, "a KeyValue namespace (repeatable)")
    ->required();
  final_read->add_option("--keys", opt.keys, "keys per namespace")
    ->check(CLI::Range(1, 1000));
  int64_t final_timeout_ms = opt.final_read_timeout.count();
  final_read
    ->add_option("--timeout-ms", final_timeout_ms,
                 "how long each key is retried")
    ->check(CLI::Range(int64_t{1}, int64_t{3600000}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }
  opt.deadline = std::chrono::milliseconds{deadline_ms};
  opt.final_read_timeout = std::chrono::milliseconds{final_timeout_ms};

  try {
    if (*load) {
      if (opt.kv_namespaces.empty() && opt.pubsub_namespace.empty()) {
        std::cerr
          << "prism-chaos-client load: give at least one --kv or --pubsub\n";
        return exit_usage;
      }
      return run_load(opt, path);
    }
    if (*subscribe)
      return run_subscribe(opt, path);
    history out(path);
    int unread = run_final_read(opt, clients, out);
    if (unread > 0) {
      std::cerr << "prism-chaos-client final-read: " << unread
                << " keys could not be read\n";
      return exit_failed;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "prism-chaos-client: " << e.what() << "\n";
    return exit_failed;
  }
}
