#pragma once

// The chaos client's workers: each runs on a thread of its own against the
// gateway, records every call in the history, and keeps going through
// faults (every call has a deadline; a broken channel reconnects by itself)
// until stop() is called.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "history.hpp"
#include "prism/v1/pubsub.grpc.pb.h"

namespace prism::chaos {

struct client_options {
  /// host:port of the gateway.
  std::string target;
  /// Bearer token sent with every call; empty sends none.
  std::string token;
  /// Names this client in key names, payloads and the history.
  std::string client;
  /// KeyValue namespaces, one worker thread each.
  std::vector<std::string> kv_namespaces;
  /// Keys each worker owns: "<client>.<namespace>.k<i>".
  uint32_t keys = 3;
  /// KeyValue calls per second of each worker.
  double kv_rate = 40;
  /// The PubSub namespace and topic of publishes and the subscription.
  std::string pubsub_namespace;
  std::string topic = "chaos";
  /// Publishes per second; 0 publishes nothing.
  double publish_rate = 20;
  /// The durable subscription's name (subscribe mode).
  std::string subscription = "chaos-durable";
  /// Every call's deadline.
  std::chrono::milliseconds deadline{1000};
  /// The final read's overall time for each key before it gives up.
  std::chrono::milliseconds final_read_timeout{60000};
  /// Seeds the choice of keys and operations.
  uint64_t seed = 1;
};

/// Shared by a process's workers: the stop request and the pause between
/// calls, which wakes up at once when stop() is called.
class stop_signal {
public:
  void stop();
  bool stopped() const { return stopped_.load(); }
  /// Waits until `until` or stop(); false once stopped.
  bool wait_until(std::chrono::steady_clock::time_point until);

private:
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

/// A channel to the gateway that reconnects quickly after the gateway comes
/// back (gRPC's default reconnect backoff grows to minutes) and has a
/// connection of its own, not shared with the process's other channels.
std::shared_ptr<grpc::Channel> make_channel(const std::string& target);

/// Sets, Gets and Deletes the worker's keys of `ns` in a paced loop.
void run_kv_worker(const client_options& opt, const std::string& ns,
                   history& out, stop_signal& stop);

/// Publishes unique payloads "<client>.p<n>" in a paced loop.
void run_publisher(const client_options& opt, history& out, stop_signal& stop);

/// Holds the durable subscription open (from EARLIEST), records every
/// delivery, and opens it again whenever the stream ends, until stopped.
/// `current` lets the stopping thread cancel the open stream.
class subscriber {
public:
  subscriber(const client_options& opt, history& out, stop_signal& stop);
  void run();
  /// Cancels the stream that is open, if any (after stop()).
  void cancel();

private:
  void open_once(prism::v1::PubSub::Stub& stub);

  const client_options& opt_;
  history& out_;
  stop_signal& stop_;
  std::mutex mutex_;
  std::shared_ptr<grpc::ClientContext> current_;
};

/// Reads every key of the clients in `clients` once it can: retries each
/// until a Get answers OK or final_read_timeout passes.
/// Returns the number of keys that could not be read.
int run_final_read(const client_options& opt,
                   const std::vector<std::string>& clients, history& out);

/// The key names of a worker.
std::string key_name(const std::string& client, const std::string& ns,
                     uint32_t index);

} // namespace prism::chaos
