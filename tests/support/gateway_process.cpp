#include "gateway_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace prism::test {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

/// Pause between two looks at something the tests wait for.
constexpr auto poll_interval = 5ms;

std::string replace_all(std::string text, const std::string& from,
                        const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

exit_status decode(int raw) {
  exit_status s;
  if (WIFEXITED(raw)) {
    s.exited = true;
    s.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    s.signal = WTERMSIG(raw);
    s.code = -s.signal;
  }
  return s;
}

/// Forks and execs PRISM_BINARY with `args`; stdout goes to `out_fd`,
/// stderr to `err_fd`, stdin from `in_fd` (/dev/null when -1). The child
/// dies with us.
pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd,
            int in_fd = -1) {
  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls are allowed in a multi-threaded process.
  if (prism_binary().empty())
    throw std::logic_error(
      "the prism binary is not set: compile the test with PRISM_BINARY");
  std::vector<std::string> argv_storage;
  argv_storage.push_back(prism_binary());
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0)
    throw std::runtime_error("cannot open /dev/null");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    throw std::runtime_error(std::string("fork failed: ")
                             + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(126);
    ::dup2(in_fd >= 0 ? in_fd : null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(null_fd);
  return pid;
}

/// Waits for `pid` to exit until `deadline`; true with `status` set if it did.
bool wait_until(pid_t pid, clock_type::time_point deadline,
                exit_status& status) {
  for (;;) {
    int raw = 0;
    pid_t r = ::waitpid(pid, &raw, WNOHANG);
    if (r == pid) {
      status = decode(raw);
      return true;
    }
    if (r < 0 && errno != EINTR)
      throw std::runtime_error(std::string("waitpid failed: ")
                               + std::strerror(errno));
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll_interval);
  }
}

int open_for_append(const std::string& path) {
  int fd
    = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open " + path + ": "
                             + std::strerror(errno));
  return fd;
}

} // namespace

std::string& prism_binary() {
  static std::string path;
  return path;
}

// --- files and directories --------------------------------------------------

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern
    = std::string(base && *base ? base : "/tmp") + "/prism-e2e-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed: "
                             + std::string(std::strerror(errno)));
  path_ = buffer.data();
}

temp_dir::~temp_dir() {
  // A REQUIRE that failed unwinds through here: keep what the gateway left.
  if (keep_ || std::uncaught_exceptions() > 0
      || std::getenv("PRISM_E2E_KEEP")) {
    std::cerr << "kept " << path_ << "\n";
    return;
  }
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string file_tail(const std::string& path, size_t bytes) {
  std::string text = read_file(path);
  return text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
}

std::string standard_config() {
  return R"(server:
  session_idle_timeout_ms: 60000
audit:
  path: {dir}/audit.log
backends:
  mem: {type: memory}
  local: {type: sqlite, path: {dir}/prism.db, connections: 4, synchronous: full}
namespaces:
  cache: {backend: mem}
  default: {backend: local}
  small: {backend: mem, max_value_bytes: 1024}
  events: {backend: mem, pattern: pubsub}
)";
}

std::string exit_status::describe() const {
  if (exited)
    return "exit code " + std::to_string(code);
  if (signal != 0)
    return "killed by signal " + std::to_string(signal) + " ("
      + strsignal(signal) + ")";
  return "still running";
}

// --- one-shot commands ------------------------------------------------------

command_result run_prism(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout) {
  return run_prism_with_input(args, std::nullopt, timeout);
}

command_result run_prism_with_input(const std::vector<std::string>& args,
                                    const std::optional<std::string>& input,
                                    std::chrono::milliseconds timeout) {
  temp_dir dir;
  std::string out_path = dir.path() + "/stdout";
  std::string err_path = dir.path() + "/stderr";
  int in_fd = -1;
  if (input) {
    std::string in_path = dir.path() + "/stdin";
    write_file(in_path, *input);
    in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in_fd < 0)
      throw std::runtime_error("cannot open " + in_path);
  }
  int out_fd = open_for_append(out_path);
  int err_fd = open_for_append(err_path);
  pid_t pid = spawn(args, out_fd, err_fd, in_fd);
  ::close(out_fd);
  ::close(err_fd);
  if (in_fd >= 0)
    ::close(in_fd);
  command_result result;
  if (!wait_until(pid, clock_type::now() + timeout, result.status)) {
    result.timed_out = true;
    ::kill(pid, SIGKILL);
    wait_until(pid, clock_type::now() + 10s, result.status);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

prism_child::prism_child(const std::vector<std::string>& args) {
  int out_fd = open_for_append(dir_.path() + "/stdout");
  int err_fd = open_for_append(dir_.path() + "/stderr");
  pid_ = spawn(args, out_fd, err_fd);
  ::close(out_fd);
  ::close(err_fd);
}

prism_child::~prism_child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    exit_status ignored;
    wait_until(pid_, clock_type::now() + 10s, ignored);
  }
}

std::string prism_child::out() const {
  return read_file(dir_.path() + "/stdout");
}
std::string prism_child::err() const {
  return read_file(dir_.path() + "/stderr");
}

void prism_child::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

bool prism_child::wait(std::chrono::milliseconds timeout, exit_status& status) {
  if (pid_ <= 0)
    return true;
  if (!wait_until(pid_, clock_type::now() + timeout, status))
    return false;
  pid_ = -1;
  return true;
}

// --- the gateway ------------------------------------------------------------

gateway_process::gateway_process(const std::string& config_yaml,
                                 std::vector<std::string> extra_args)
  : extra_args_(std::move(extra_args)) {
  write_file(config_path(), replace_all(config_yaml, "{dir}", dir_.path()));
}

gateway_process::~gateway_process() {
  if (pid_ > 0) {
    try {
      stop();
    } catch (...) {
      ::kill(pid_, SIGKILL);
    }
  }
}

std::string gateway_process::config_path() const {
  return dir_.path() + "/prism.yaml";
}
std::string gateway_process::log_path() const {
  return dir_.path() + "/gateway.log";
}
std::string gateway_process::ready_path() const {
  return dir_.path() + "/ready.json";
}

std::string gateway_process::log_tail(size_t bytes) const {
  return file_tail(log_path(), bytes);
}

void gateway_process::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0)
    throw std::logic_error("gateway already started");
  std::error_code ignored;
  fs::remove(ready_path(), ignored);
  grpc_port_ = admin_port_ = 0;

  int log_fd = open_for_append(log_path());
  std::string banner = "=== prism serve (test harness start) ===\n";
  (void)!::write(log_fd, banner.data(), banner.size());
  std::vector<std::string> args = {"serve",       "--config",     config_path(),
                                   "--listen",    "127.0.0.1:0",  "--admin",
                                   "127.0.0.1:0", "--ready-file", ready_path()};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = spawn(args, log_fd, log_fd);
  ::close(log_fd);

  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (!running()) {
      throw std::runtime_error("prism serve exited before it was ready ("
                               + last_exit_.describe() + "); log " + log_path()
                               + ":\n" + log_tail());
    }
    std::string text = read_file(ready_path());
    if (!text.empty()) {
      auto ready
        = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (ready.is_object() && ready.contains("grpc_port")
          && ready.contains("admin_port")) {
        grpc_port_ = ready["grpc_port"].get<uint16_t>();
        admin_port_ = ready["admin_port"].get<uint16_t>();
        if (ready.contains("pid") && ready["pid"].get<pid_t>() != pid_)
          throw std::runtime_error("ready file names pid " + ready["pid"].dump()
                                   + ", started " + std::to_string(pid_));
        if (grpc_port_ == 0 || admin_port_ == 0)
          throw std::runtime_error("ready file names port 0: " + text);
        return;
      }
    }
    if (clock_type::now() >= deadline) {
      dir_.keep();
      ::kill(pid_, SIGKILL);
      exit_status ignored_status;
      wait_until(pid_, clock_type::now() + 10s, ignored_status);
      pid_ = -1;
      throw std::runtime_error("no ready file " + ready_path() + " within "
                               + std::to_string(timeout.count()) + " ms; log:\n"
                               + log_tail());
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

bool gateway_process::running() {
  if (pid_ <= 0)
    return false;
  int raw = 0;
  pid_t r = ::waitpid(pid_, &raw, WNOHANG);
  if (r == pid_) {
    last_exit_ = decode(raw);
    pid_ = -1;
    return false;
  }
  return true;
}

exit_status gateway_process::stop(std::chrono::milliseconds timeout) {
  if (!running())
    return last_exit_;
  ::kill(pid_, SIGTERM);
  if (!wait_until(pid_, clock_type::now() + timeout, last_exit_)) {
    ::kill(pid_, SIGKILL);
    wait_until(pid_, clock_type::now() + 10s, last_exit_);
  }
  pid_ = -1;
  return last_exit_;
}

exit_status gateway_process::kill9() {
  if (!running())
    return last_exit_;
  ::kill(pid_, SIGKILL);
  wait_until(pid_, clock_type::now() + 10s, last_exit_);
  pid_ = -1;
  return last_exit_;
}

void gateway_process::signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

exit_status gateway_process::wait_for_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0)
    return last_exit_;
  if (!wait_until(pid_, clock_type::now() + timeout, last_exit_))
    throw std::runtime_error("the gateway did not exit within "
                             + std::to_string(timeout.count()) + " ms; log:\n"
                             + log_tail());
  pid_ = -1;
  return last_exit_;
}

void gateway_process::restart() {
  stop();
  start();
}

std::string gateway_process::grpc_target() const {
  return "ipv4:127.0.0.1:" + std::to_string(grpc_port_);
}

namespace {

grpc::ChannelArguments channel_arguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(client_message_bytes_max);
  args.SetMaxSendMessageSize(client_message_bytes_max);
  // Each channel gets its own connection instead of sharing one subchannel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

} // namespace

std::shared_ptr<grpc::Channel> gateway_process::channel() const {
  auto made = grpc::CreateCustomChannel(
    grpc_target(), grpc::InsecureChannelCredentials(), channel_arguments());
  // Connected before the first call: when many clients start at once on a
  // loaded machine, a new channel's first TCP connect can fail in the client
  // (seen: connect() reporting ENOENT), which gRPC reports to a fail-fast
  // call as UNAVAILABLE before the gateway ever sees the connection; the
  // channel itself retries. Past the deadline the call finds out.
  made->WaitForConnected(std::chrono::system_clock::now()
                         + std::chrono::seconds(10));
  return made;
}

std::shared_ptr<grpc::Channel> gateway_process::channel(
  std::shared_ptr<grpc::ChannelCredentials> credentials) const {
  auto args = channel_arguments();
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(grpc_target(), std::move(credentials), args);
}

std::unique_ptr<prism::v1::KeyValue::Stub> gateway_process::stub() const {
  return prism::v1::KeyValue::NewStub(channel());
}

// --- admin HTTP -------------------------------------------------------------

namespace {

/// Decodes a chunked body; returns false while it is incomplete.
bool dechunk(const std::string& raw, std::string& body) {
  body.clear();
  size_t at = 0;
  for (;;) {
    size_t eol = raw.find("\r\n", at);
    if (eol == std::string::npos)
      return false;
    size_t size = std::stoul(raw.substr(at, eol - at), nullptr, 16);
    at = eol + 2;
    if (size == 0)
      return true;
    if (raw.size() < at + size + 2)
      return false;
    body.append(raw, at, size);
    at += size + 2;
  }
}

} // namespace

http_response http_get(uint16_t port, const std::string& path,
                       std::chrono::milliseconds timeout) {
  return http_request(port, "GET", path, "", timeout);
}

http_response http_post(uint16_t port, const std::string& path,
                        const std::string& body,
                        std::chrono::milliseconds timeout) {
  return http_request(port, "POST", path, body, timeout);
}

http_response http_request(
  uint16_t port, const std::string& method, const std::string& path,
  const std::string& body, std::chrono::milliseconds timeout,
  const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect to admin port " + std::to_string(port)
                             + " failed: " + std::strerror(errno));
  std::string request = method + " " + path
    + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
      "Accept: */*\r\n";
  for (const auto& [name, value] : extra_headers)
    request += name + ": " + value + "\r\n";
  if (method != "GET" || !body.empty())
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL)
      != static_cast<ssize_t>(request.size()))
    throw std::runtime_error("send to admin port failed");

  auto deadline = clock_type::now() + timeout;
  std::string raw;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      raw.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      throw std::runtime_error("no complete HTTP answer for " + path
                               + " within " + std::to_string(timeout.count())
                               + " ms; got: " + raw);
    }
    if (clock_type::now() >= deadline)
      throw std::runtime_error("HTTP answer for " + path
                               + " too slow; got: " + raw);
  }

  size_t header_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || header_end == std::string::npos)
    throw std::runtime_error("not an HTTP answer for " + path + ": " + raw);
  http_response response;
  size_t space = raw.find(' ');
  response.status = std::stoi(raw.substr(space + 1, 3));
  std::string headers = raw.substr(0, header_end);
  for (auto& c : headers)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  response.headers = headers;
  std::string content = raw.substr(header_end + 4);
  if (headers.find("transfer-encoding: chunked") != std::string::npos) {
    if (!dechunk(content, response.body))
      throw std::runtime_error("incomplete chunked HTTP body for " + path);
  } else {
    response.body = std::move(content);
  }
  return response;
}

// --- gRPC helpers -----------------------------------------------------------

void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

std::string describe(const grpc::Status& status) {
  static const char* const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  int code = static_cast<int>(status.error_code());
  std::string name = code >= 0 && code <= 16 ? names[code]
                                             : std::to_string(code);
  return name + ": " + status.error_message();
}

} // namespace prism::test

// --- KeyValue client --------------------------------------------------------

namespace prism::test {

namespace {

std::multimap<std::string, std::string> copy_metadata(
  const std::multimap<grpc::string_ref, grpc::string_ref>& from) {
  std::multimap<std::string, std::string> to;
  for (const auto& [key, value] : from)
    to.emplace(std::string(key.data(), key.size()),
               std::string(value.data(), value.size()));
  return to;
}

template <class Response, class Request, class Call>
reply<Response> invoke(std::chrono::milliseconds timeout,
                       const Request& request, Call call) {
  grpc::ClientContext ctx;
  set_deadline(ctx, timeout);
  reply<Response> r;
  r.status = call(&ctx, request, &r.response);
  r.initial_metadata = initial_metadata_of(ctx);
  r.trailing_metadata = trailing_metadata_of(ctx);
  return r;
}

} // namespace

std::multimap<std::string, std::string> initial_metadata_of(
  const grpc::ClientContext& ctx) {
  return copy_metadata(ctx.GetServerInitialMetadata());
}

std::multimap<std::string, std::string> trailing_metadata_of(
  const grpc::ClientContext& ctx) {
  return copy_metadata(ctx.GetServerTrailingMetadata());
}

std::vector<grpc::StatusCode> every_kv_rpc(kv_client& kv,
                                           const std::string& ns) {
  prism::v1::ScanRequest scan;
  scan.set_namespace_(ns);
  return {
    kv.get(ns, "k").status.error_code(),
    kv.set(ns, "k", "v").status.error_code(),
    kv.del(ns, "k").status.error_code(),
    kv.exists(ns, "k").status.error_code(),
    kv.batch_get(ns, {"k"}).status.error_code(),
    kv.batch_set(ns, {make_entry("k", "v")}).status.error_code(),
    kv.batch_delete(ns, {"k"}).status.error_code(),
    kv.scan(scan).status.error_code(),
  };
}

prism::v1::Entry make_entry(const std::string& key, const std::string& value,
                            uint64_t ttl_ms) {
  prism::v1::Entry e;
  e.set_key(key);
  e.set_value(value);
  e.set_ttl_ms(ttl_ms);
  return e;
}

kv_client::kv_client(std::shared_ptr<grpc::Channel> channel,
                     std::chrono::milliseconds call_timeout)
  : channel_(std::move(channel)), stub_(prism::v1::KeyValue::NewStub(channel_)),
    call_timeout_(call_timeout) {}

#define PRISM_KV_CALL(Method)                                                  \
  [this](grpc::ClientContext* ctx, const auto& req, auto* resp) {              \
    if (!token_.empty())                                                       \
      ctx->AddMetadata("authorization", "Bearer " + token_);                   \
    if (!request_id_.empty())                                                  \
      ctx->AddMetadata("x-request-id", request_id_);                           \
    return stub_->Method(ctx, req, resp);                                      \
  }

reply<prism::v1::GetResponse> kv_client::get(const std::string& ns,
                                             const std::string& key) {
  prism::v1::GetRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  return invoke<prism::v1::GetResponse>(call_timeout_, req, PRISM_KV_CALL(Get));
}

reply<prism::v1::SetResponse> kv_client::set(
  const std::string& ns, const std::string& key, const std::string& value,
  uint64_t ttl_ms, std::optional<uint64_t> if_version) {
  prism::v1::SetRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  req.set_value(value);
  req.set_ttl_ms(ttl_ms);
  if (if_version)
    req.set_if_version(*if_version);
  return invoke<prism::v1::SetResponse>(call_timeout_, req, PRISM_KV_CALL(Set));
}

reply<prism::v1::DeleteResponse> kv_client::del(const std::string& ns,
                                                const std::string& key) {
  prism::v1::DeleteRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  return invoke<prism::v1::DeleteResponse>(call_timeout_, req,
                                           PRISM_KV_CALL(Delete));
}

reply<prism::v1::ExistsResponse> kv_client::exists(const std::string& ns,
                                                   const std::string& key) {
  prism::v1::ExistsRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  return invoke<prism::v1::ExistsResponse>(call_timeout_, req,
                                           PRISM_KV_CALL(Exists));
}

reply<prism::v1::BatchGetResponse> kv_client::batch_get(
  const std::string& ns, const std::vector<std::string>& keys) {
  prism::v1::BatchGetRequest req;
  req.set_namespace_(ns);
  for (const auto& k : keys)
    req.add_keys(k);
  return invoke<prism::v1::BatchGetResponse>(call_timeout_, req,
                                             PRISM_KV_CALL(BatchGet));
}

reply<prism::v1::BatchSetResponse> kv_client::batch_set(
  const std::string& ns, const std::vector<prism::v1::Entry>& entries) {
  prism::v1::BatchSetRequest req;
  req.set_namespace_(ns);
  for (const auto& e : entries)
    *req.add_entries() = e;
  return invoke<prism::v1::BatchSetResponse>(call_timeout_, req,
                                             PRISM_KV_CALL(BatchSet));
}

reply<prism::v1::BatchDeleteResponse> kv_client::batch_delete(
  const std::string& ns, const std::vector<std::string>& keys) {
  prism::v1::BatchDeleteRequest req;
  req.set_namespace_(ns);
  for (const auto& k : keys)
    req.add_keys(k);
  return invoke<prism::v1::BatchDeleteResponse>(call_timeout_, req,
                                                PRISM_KV_CALL(BatchDelete));
}

reply<prism::v1::ScanResponse> kv_client::scan(
  const prism::v1::ScanRequest& request) {
  return invoke<prism::v1::ScanResponse>(call_timeout_, request,
                                         PRISM_KV_CALL(Scan));
}

#undef PRISM_KV_CALL

} // namespace prism::test
