#pragma once

// Runs the real `prism` binary for end-to-end tests: a fresh temporary
// directory holds its config, data and log; the gateway listens on free
// loopback ports and announces them through its ready file.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "prism/v1/keyvalue.grpc.pb.h"

namespace prism::test {

using namespace std::chrono_literals;

/// Path of the `prism` binary under test. Test executables are compiled
/// with PRISM_BINARY; including this header there sets it.
std::string& prism_binary();

#ifdef PRISM_BINARY
namespace {
[[maybe_unused]] const bool prism_binary_set
  = (prism_binary() = PRISM_BINARY, true);
} // namespace
#endif

/// The largest gRPC message the test clients send or accept.
inline constexpr int client_message_bytes_max = 64 * 1024 * 1024;

/// How long a gateway may take to start, and to stop after SIGTERM.
inline constexpr std::chrono::milliseconds start_timeout = 20s;
inline constexpr std::chrono::milliseconds stop_timeout = 10s;

/// A directory under $TMPDIR (or /tmp), removed with its content on
/// destruction unless keep() was called or PRISM_E2E_KEEP is set.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }
  /// Leaves the directory behind (it is named on stderr).
  void keep() { keep_ = true; }

private:
  std::string path_;
  bool keep_ = false;
};

/// A config with the namespaces every e2e test uses; "{dir}" stands for the
/// gateway's temporary directory:
///   cache -> memory, default -> sqlite (synchronous full),
///   small -> memory with max_value_bytes 1024, events -> pubsub.
std::string standard_config();

/// Exit status of a child: the exit code, or -signal when it was killed.
struct exit_status {
  bool exited = false;
  int code = 0;
  int signal = 0;

  std::string describe() const;
};

/// One run of the binary to completion (e.g. `prism check FILE`).
struct command_result {
  exit_status status;
  std::string out;
  std::string err;
  bool timed_out = false;
};

/// Runs PRISM_BINARY with `args`, collecting stdout and stderr; kills it
/// (and sets timed_out) when it has not exited within `timeout`.
command_result run_prism(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = 15s);

/// The same with `input` as its stdin (a file holding it; /dev/null without).
command_result run_prism_with_input(const std::vector<std::string>& args,
                                    const std::optional<std::string>& input,
                                    std::chrono::milliseconds timeout = 15s);

/// A run of the binary in the background (a subscriber, say); killed when
/// destroyed while it still runs.
class prism_child {
public:
  explicit prism_child(const std::vector<std::string>& args);
  ~prism_child();
  prism_child(const prism_child&) = delete;
  prism_child& operator=(const prism_child&) = delete;

  std::string out() const;
  std::string err() const;
  void signal(int sig);
  /// Waits up to `timeout` for it to end; false when it still runs.
  bool wait(std::chrono::milliseconds timeout, exit_status& status);

private:
  temp_dir dir_;
  pid_t pid_ = -1;
};

class gateway_process {
public:
  /// Writes `config_yaml` (with "{dir}" replaced by the temporary
  /// directory) to DIR/prism.yaml; start() runs the gateway on it.
  explicit gateway_process(const std::string& config_yaml = standard_config(),
                           std::vector<std::string> extra_args = {});
  ~gateway_process();
  gateway_process(const gateway_process&) = delete;
  gateway_process& operator=(const gateway_process&) = delete;

  /// Starts the binary and waits for its ready file; throws with the log's
  /// tail when the file does not appear in time or the process exits.
  void start(std::chrono::milliseconds timeout = start_timeout);
  /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns how it ended.
  exit_status stop(std::chrono::milliseconds timeout = stop_timeout);
  /// SIGKILL at once, then reaps the process.
  exit_status kill9();
  /// Sends `sig` and returns at once.
  void signal(int sig);
  /// Waits up to `timeout` for the process to end on its own; throws when
  /// it does not.
  exit_status wait_for_exit(std::chrono::milliseconds timeout);
  /// stop() (if running) and start() again on the same config and data.
  void restart();
  /// Whether the process is alive (reaps it when it has exited).
  bool running();

  pid_t pid() const { return pid_; }
  uint16_t grpc_port() const { return grpc_port_; }
  uint16_t admin_port() const { return admin_port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string config_path() const;
  std::string log_path() const;
  std::string ready_path() const;
  /// The last `bytes` of the gateway's stderr log.
  std::string log_tail(size_t bytes = 4000) const;
  /// Keeps the temporary directory for inspection.
  void keep_dir() { dir_.keep(); }

  /// "ipv4:127.0.0.1:PORT".
  std::string grpc_target() const;
  /// A new channel with its own connection and 64 MiB message limits,
  /// connected (or given up on after 10 s) before it is returned.
  std::shared_ptr<grpc::Channel> channel() const;
  /// The same over `credentials` (e.g. TLS), checking the server's
  /// certificate against "localhost".
  std::shared_ptr<grpc::Channel> channel(
    std::shared_ptr<grpc::ChannelCredentials> credentials) const;
  std::unique_ptr<prism::v1::KeyValue::Stub> stub() const;

private:
  temp_dir dir_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  exit_status last_exit_;
  uint16_t grpc_port_ = 0;
  uint16_t admin_port_ = 0;
};

/// A call's status and answer, with the server's metadata.
template <class Response>
struct reply {
  grpc::Status status;
  Response response;
  std::multimap<std::string, std::string> initial_metadata;
  std::multimap<std::string, std::string> trailing_metadata;

  bool ok() const { return status.ok(); }
};

/// Blocking KeyValue calls with a deadline of `call_timeout` each.
class kv_client {
public:
  explicit kv_client(std::shared_ptr<grpc::Channel> channel,
                     std::chrono::milliseconds call_timeout = 15s);

  reply<prism::v1::GetResponse> get(const std::string& ns,
                                    const std::string& key);
  reply<prism::v1::SetResponse> set(
    const std::string& ns, const std::string& key, const std::string& value,
    uint64_t ttl_ms = 0, std::optional<uint64_t> if_version = std::nullopt);
  reply<prism::v1::DeleteResponse> del(const std::string& ns,
                                       const std::string& key);
  reply<prism::v1::ExistsResponse> exists(const std::string& ns,
                                          const std::string& key);
  reply<prism::v1::BatchGetResponse> batch_get(
    const std::string& ns, const std::vector<std::string>& keys);
  reply<prism::v1::BatchSetResponse> batch_set(
    const std::string& ns, const std::vector<prism::v1::Entry>& entries);
  reply<prism::v1::BatchDeleteResponse> batch_delete(
    const std::string& ns, const std::vector<std::string>& keys);
  reply<prism::v1::ScanResponse> scan(const prism::v1::ScanRequest& request);

  prism::v1::KeyValue::Stub& stub() { return *stub_; }

  /// Sends `authorization: Bearer <token>` with every call from now on
  /// (empty: none).
  void set_token(std::string token) { token_ = std::move(token); }

  /// Sends `x-request-id: <id>` with every call from now on (empty: none,
  /// the gateway makes one).
  void set_request_id(std::string id) { request_id_ = std::move(id); }

private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<prism::v1::KeyValue::Stub> stub_;
  std::chrono::milliseconds call_timeout_;
  std::string token_;
  std::string request_id_;
};

/// Calls each of the eight KeyValue RPCs once on `ns` (key "k") and returns
/// their status codes, in the order of the service definition.
std::vector<grpc::StatusCode> every_kv_rpc(kv_client& kv,
                                           const std::string& ns);

/// An Entry for BatchSet.
prism::v1::Entry make_entry(const std::string& key, const std::string& value,
                            uint64_t ttl_ms = 0);

/// Copies a context's server metadata into plain strings.
std::multimap<std::string, std::string> initial_metadata_of(
  const grpc::ClientContext& ctx);
std::multimap<std::string, std::string> trailing_metadata_of(
  const grpc::ClientContext& ctx);

/// Last `bytes` of a file, or "" when it cannot be read.
std::string file_tail(const std::string& path, size_t bytes);
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);

struct http_response {
  int status = 0;
  std::string body;
  /// The status line and header lines as received, lowercased.
  std::string headers;
};

/// A plain HTTP/1.1 request to 127.0.0.1:port with `body` (sent with a
/// Content-Length, also when empty); throws on connection failure or when no
/// complete answer arrives within `timeout`.
http_response http_request(
  uint16_t port, const std::string& method, const std::string& path,
  const std::string& body = "", std::chrono::milliseconds timeout = 5s,
  const std::vector<std::pair<std::string, std::string>>& headers = {});

/// A plain HTTP/1.1 GET to 127.0.0.1:port; throws like http_request.
http_response http_get(uint16_t port, const std::string& path,
                       std::chrono::milliseconds timeout = 5s);

/// A plain HTTP/1.1 POST to 127.0.0.1:port; throws like http_request.
http_response http_post(uint16_t port, const std::string& path,
                        const std::string& body = "",
                        std::chrono::milliseconds timeout = 5s);

/// A context whose deadline is `timeout` from now.
void set_deadline(grpc::ClientContext& ctx,
                  std::chrono::milliseconds timeout = 10s);

/// "CODE: message" for failure messages.
std::string describe(const grpc::Status& status);

} // namespace prism::test
