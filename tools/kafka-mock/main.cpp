// prism-kafka-mock: a local Kafka for tests and for trying the gateway by
// hand. It holds one of librdkafka's in-process mock clusters, announces its
// bootstrap servers, and lets a test break and heal brokers through a small
// line protocol on a loopback TCP port. Nothing here is part of the gateway:
// a client only ever sees `bootstrap.servers`.
//
//   prism-kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]...
//                    [--control-port PORT] [--ready-file FILE]
//
// SIGTERM or SIGINT stops it (exit 0); bad flags exit 2; a failure to start
// exits 1.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr int max_brokers = 64;
constexpr int max_partitions = 1000;
constexpr int max_control_clients = 16;
constexpr size_t max_line_bytes = 1024;

const char* const usage_text
  = "usage: prism-kafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]...\n"
    "                        [--control-port PORT] [--ready-file FILE]\n"
    "\n"
    "Runs a librdkafka mock Kafka cluster of N brokers (default 3) on\n"
    "127.0.0.1 until SIGTERM or SIGINT.\n"
    "  --brokers N            brokers in the cluster, ids 1..N (1-64)\n"
    "  --topic NAME[:P]       create topic NAME with P partitions (default 4)\n"
    "                         before announcing readiness; repeatable\n"
    "  --control-port PORT    listen for fault commands on 127.0.0.1:PORT\n"
    "                         (0: a free port, announced in the ready file)\n"
    "  --ready-file FILE      once up, write {\"bootstrap_servers\": ...,\n"
    "                         \"control_port\": ..., \"brokers\": N, \"pid\": ...}\n"
    "Control commands, one per line, each answered by one line `ok[ ...]` or\n"
    "`error: REASON`:\n"
    "  ping | bootstrap | down B | up B | rtt B MS | leader TOPIC PART B\n"
    "  topic NAME [PARTITIONS] | errors API ERR... | clear-errors API\n"
    "  topic-error TOPIC ERR\n"
    "B is a broker id or `all`; API a Kafka API name or key; ERR an error\n"
    "name (NOT_LEADER_FOR_PARTITION) or code.\n";

/// A command line the program cannot run with; the message names the flag.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct topic_spec {
  std::string name;
  int partitions = 4;
};

struct options {
  int brokers = 3;
  std::vector<topic_spec> topics;
  std::optional<int> control_port;
  std::string ready_file;
};

/// Whole-string decimal integer within [min, max].
bool parse_int(const std::string& text, long min, long max, long& out) {
  if (text.empty() || text.size() > 12)
    return false;
  size_t start = text[0] == '-' ? 1 : 0;
  if (start == text.size())
    return false;
  for (size_t i = start; i < text.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(text[i])))
      return false;
  long value = std::stol(text);
  if (value < min || value > max)
    return false;
  out = value;
  return true;
}

/// Kafka topic names: 1-249 characters of [a-zA-Z0-9._-].
bool valid_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..")
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
      || c == '-';
  });
}

options parse_args(int argc, char** argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('=');
        arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_value)
        return value;
      if (i + 1 >= argc)
        throw usage_error(arg + " needs a value");
      return argv[++i];
    };
    long number = 0;
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_text;
      std::exit(0);
    } else if (arg == "--brokers") {
      auto text = take_value();
      if (!parse_int(text, 1, max_brokers, number))
        throw usage_error("--brokers: \"" + text
                          + "\" is not a broker count "
                            "from 1 to "
                          + std::to_string(max_brokers));
      opts.brokers = static_cast<int>(number);
    } else if (arg == "--topic") {
      auto text = take_value();
      topic_spec topic;
      auto colon = text.find(':');
      topic.name = text.substr(0, colon);
      if (!valid_topic_name(topic.name))
        throw usage_error("--topic: \"" + topic.name
                          + "\" is not a valid topic "
                            "name (1-249 characters of a-z A-Z 0-9 . _ -)");
      if (colon != std::string::npos) {
        auto count = text.substr(colon + 1);
        if (!parse_int(count, 1, max_partitions, number))
          throw usage_error("--topic: \"" + count
                            + "\" is not a partition "
                              "count from 1 to "
                            + std::to_string(max_partitions));
        topic.partitions = static_cast<int>(number);
      }
      opts.topics.push_back(topic);
    } else if (arg == "--control-port") {
      auto text = take_value();
      if (!parse_int(text, 0, 65535, number))
        throw usage_error("--control-port: \"" + text
                          + "\" is not a port "
                            "from 0 to 65535");
      opts.control_port = static_cast<int>(number);
    } else if (arg == "--ready-file") {
      opts.ready_file = take_value();
      if (opts.ready_file.empty())
        throw usage_error("--ready-file needs a file name");
    } else {
      throw usage_error("unknown flag \"" + arg + "\"");
    }
  }
  return opts;
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

/// Writes the ready file atomically, so a reader never sees half of it.
void write_ready_file(const std::string& path, const std::string& bootstraps,
                      std::optional<int> control_port, int brokers) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"bootstrap_servers\": \"" << json_escape(bootstraps) << "\"";
    if (control_port)
      out << ", \"control_port\": " << *control_port;
    out << ", \"brokers\": " << brokers << ", \"pid\": " << ::getpid() << "}\n";
    if (!out)
      throw std::runtime_error("cannot write the ready file \"" + tmp + "\"");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    throw std::runtime_error("cannot rename \"" + tmp + "\" to \"" + path
                             + "\": " + ec.message());
}

void log_line(const std::string& text) {
  std::cerr << "prism-kafka-mock: " << text << std::endl;
}

void on_librdkafka_log(const rd_kafka_t*, int level, const char* facility,
                       const char* message) {
  // The handle that owns the cluster has no brokers to talk to on purpose.
  if (std::strcmp(facility, "CONFWARN") == 0
      && std::strstr(message, "bootstrap.servers") != nullptr)
    return;
  std::cerr << "prism-kafka-mock: librdkafka " << level << " " << facility
            << ": " << message << std::endl;
}

// --- the control protocol -----------------------------------------------------

std::string lower(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// Kafka API keys by name, for `errors` and `clear-errors`.
struct api_name {
  const char* name;
  int16_t key;
};
const api_name api_names[] = {
  {"produce", 0},          {"fetch", 1},           {"listoffsets", 2},
  {"metadata", 3},         {"offsetcommit", 8},    {"offsetfetch", 9},
  {"findcoordinator", 10}, {"joingroup", 11},      {"heartbeat", 12},
  {"leavegroup", 13},      {"syncgroup", 14},      {"apiversions", 18},
  {"createtopics", 19},    {"initproducerid", 22}, {"addpartitionstotxn", 24},
  {"endtxn", 26},
};

class controller {
public:
  controller(rd_kafka_mock_cluster_t* cluster, int brokers,
             std::string bootstraps)
    : cluster_(cluster), brokers_(brokers), bootstraps_(std::move(bootstraps)) {
  }

  /// Runs one command line; the answer is one line without its newline.
  std::string run(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string word; in >> word;)
      words.push_back(word);
    if (words.empty())
      return "error: empty command";
    try {
      return dispatch(lower(words[0]), words);
    } catch (const std::invalid_argument& e) {
      return std::string("error: ") + e.what();
    }
  }

private:
  std::string dispatch(const std::string& cmd,
                       const std::vector<std::string>& w) {
    if (cmd == "ping") {
      arity(w, 1, 1, "ping");
      return "ok";
    }
    if (cmd == "bootstrap") {
      arity(w, 1, 1, "bootstrap");
      return "ok " + bootstraps_;
    }
    if (cmd == "down") {
      arity(w, 2, 2, "down BROKER");
      return answer(rd_kafka_mock_broker_set_down(cluster_, broker(w[1])));
    }
    if (cmd == "up") {
      arity(w, 2, 2, "up BROKER");
      return answer(rd_kafka_mock_broker_set_up(cluster_, broker(w[1])));
    }
    if (cmd == "rtt") {
      arity(w, 3, 3, "rtt BROKER MS");
      long ms = 0;
      if (!parse_int(w[2], 0, 600000, ms))
        throw std::invalid_argument("\"" + w[2]
                                    + "\" is not a delay from 0 to "
                                      "600000 ms");
      return answer(rd_kafka_mock_broker_set_rtt(cluster_, broker(w[1]),
                                                 static_cast<int>(ms)));
    }
    if (cmd == "leader") {
      arity(w, 4, 4, "leader TOPIC PARTITION BROKER");
      long partition = 0;
      if (!parse_int(w[2], 0, max_partitions - 1, partition))
        throw std::invalid_argument("\"" + w[2] + "\" is not a partition");
      // `none` leaves the partition without a leader.
      int32_t id = lower(w[3]) == "none" ? -1 : broker(w[3]);
      if (id < 0 && lower(w[3]) == "all")
        throw std::invalid_argument("a partition has one leader, not all");
      return answer(rd_kafka_mock_partition_set_leader(
        cluster_, topic(w[1]).c_str(), static_cast<int32_t>(partition), id));
    }
    if (cmd == "topic") {
      arity(w, 2, 3, "topic NAME [PARTITIONS]");
      long partitions = 4;
      if (w.size() == 3 && !parse_int(w[2], 1, max_partitions, partitions))
        throw std::invalid_argument("\"" + w[2]
                                    + "\" is not a partition count");
      return answer(rd_kafka_mock_topic_create(cluster_, topic(w[1]).c_str(),
                                               static_cast<int>(partitions),
                                               std::min(3, brokers_)));
    }
    if (cmd == "errors") {
      if (w.size() < 3)
        throw std::invalid_argument("usage: errors API ERROR...");
      auto key = api_key(w[1]);
      std::vector<rd_kafka_resp_err_t> errors;
      for (size_t i = 2; i < w.size(); ++i)
        errors.push_back(error_code(w[i]));
      rd_kafka_mock_push_request_errors_array(cluster_, key, errors.size(),
                                              errors.data());
      return "ok";
    }
    if (cmd == "clear-errors") {
      arity(w, 2, 2, "clear-errors API");
      rd_kafka_mock_clear_request_errors(cluster_, api_key(w[1]));
      return "ok";
    }
    if (cmd == "topic-error") {
      arity(w, 3, 3, "topic-error TOPIC ERROR");
      rd_kafka_mock_topic_set_error(cluster_, topic(w[1]).c_str(),
                                    error_code(w[2]));
      return "ok";
    }
    throw std::invalid_argument("unknown command \"" + w[0] + "\"");
  }

  static void arity(const std::vector<std::string>& w, size_t min, size_t max,
                    const char* usage) {
    if (w.size() < min || w.size() > max)
      throw std::invalid_argument(std::string("usage: ") + usage);
  }

  static std::string answer(rd_kafka_resp_err_t err) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return "ok";
    return std::string("error: ") + rd_kafka_err2name(err) + ": "
      + rd_kafka_err2str(err);
  }

  /// A broker id 1..N, or -1 for `all`.
  int32_t broker(const std::string& text) const {
    if (lower(text) == "all")
      return -1;
    long id = 0;
    if (!parse_int(text, 1, brokers_, id))
      throw std::invalid_argument("no broker \"" + text + "\" (ids are 1.."
                                  + std::to_string(brokers_) + " or all)");
    return static_cast<int32_t>(id);
  }

  static std::string topic(const std::string& text) {
    if (!valid_topic_name(text))
      throw std::invalid_argument("\"" + text + "\" is not a valid topic name");
    return text;
  }

  static int16_t api_key(const std::string& text) {
    long key = 0;
    if (parse_int(text, 0, 100, key))
      return static_cast<int16_t>(key);
    auto name = lower(text);
    for (const auto& api : api_names)
      if (name == api.name)
        return api.key;
    throw std::invalid_argument("unknown Kafka API \"" + text + "\"");
  }

  static rd_kafka_resp_err_t error_code(const std::string& text) {
    long code = 0;
    const rd_kafka_err_desc* descs = nullptr;
    size_t count = 0;
    rd_kafka_get_err_descs(&descs, &count);
    if (parse_int(text, -200, 200, code)) {
      for (size_t i = 0; i < count; ++i)
        if (descs[i].name && descs[i].code == code)
          return descs[i].code;
      throw std::invalid_argument("unknown error code " + text);
    }
    auto name = lower(text);
    const std::string prefix = "rd_kafka_resp_err_";
    if (name.rfind(prefix, 0) == 0)
      name = name.substr(prefix.size());
    for (size_t i = 0; i < count; ++i)
      if (descs[i].name && lower(descs[i].name) == name)
        return descs[i].code;
    throw std::invalid_argument("unknown error \"" + text + "\"");
  }

  rd_kafka_mock_cluster_t* cluster_;
  int brokers_;
  std::string bootstraps_;
};

// --- sockets ------------------------------------------------------------------

struct fd_closer {
  int fd = -1;
  explicit fd_closer(int f = -1) : fd(f) {}
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
};

/// Listens on 127.0.0.1:port (0: a free one); returns the socket and port.
int listen_loopback(int port, int& bound_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::listen(fd, 16) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on 127.0.0.1:"
                             + std::to_string(port) + ": "
                             + std::strerror(err));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = ntohs(addr.sin_port);
  return fd;
}

void send_line(int fd, const std::string& text) {
  std::string line = text + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    auto n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; // the client went away; its socket closes on the next read
    sent += static_cast<size_t>(n);
  }
}

struct control_client {
  int fd;
  std::string pending;
};

/// Reads what a control client sent and answers each complete line; false
/// when the connection should be closed.
bool serve_client(control_client& client, controller& ctl) {
  char buf[4096];
  auto n = ::recv(client.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    return false;
  client.pending.append(buf, static_cast<size_t>(n));
  for (size_t nl; (nl = client.pending.find('\n')) != std::string::npos;) {
    auto line = client.pending.substr(0, nl);
    client.pending.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    auto reply = ctl.run(line);
    log_line("control: " + line + " -> " + reply);
    send_line(client.fd, reply);
  }
  if (client.pending.size() > max_line_bytes) {
    send_line(client.fd,
              "error: line longer than " + std::to_string(max_line_bytes)
                + " bytes");
    return false;
  }
  return true;
}

// --- the program ----------------------------------------------------------------

struct kafka_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct cluster_deleter {
  void operator()(rd_kafka_mock_cluster_t* c) const {
    rd_kafka_mock_cluster_destroy(c);
  }
};

int run(const options& opts) {
  // Block the stop signals before librdkafka starts its threads, so every
  // thread inherits the mask and only the signalfd below sees them. A shell
  // starts background jobs with SIGINT ignored, and an ignored signal never
  // reaches a signalfd: take the default disposition back first.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  fd_closer signal_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (signal_fd.fd < 0)
    throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));

  // The cluster needs a client handle for its book keeping; this one never
  // connects anywhere.
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, on_librdkafka_log);
  if (rd_kafka_conf_set(conf, "client.id", "prism-kafka-mock", errstr,
                        sizeof errstr)
      != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(errstr);
  }
  std::unique_ptr<rd_kafka_t, kafka_deleter> rk(
    rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create a client handle: ")
                             + errstr);
  }
  std::unique_ptr<rd_kafka_mock_cluster_t, cluster_deleter> cluster(
    rd_kafka_mock_cluster_new(rk.get(), opts.brokers));
  if (!cluster)
    throw std::runtime_error("cannot create a mock cluster of "
                             + std::to_string(opts.brokers) + " brokers");
  for (const auto& t : opts.topics) {
    auto err = rd_kafka_mock_topic_create(
      cluster.get(), t.name.c_str(), t.partitions, std::min(3, opts.brokers));
    if (err)
      throw std::runtime_error("cannot create topic \"" + t.name
                               + "\": " + rd_kafka_err2str(err));
  }
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster.get());

  fd_closer control_fd;
  std::optional<int> control_port;
  if (opts.control_port) {
    int port = 0;
    control_fd.fd = listen_loopback(*opts.control_port, port);
    control_port = port;
  }
  controller ctl(cluster.get(), opts.brokers, bootstraps);

  std::cout << bootstraps << std::endl;
  log_line(std::to_string(opts.brokers)
           + (opts.brokers == 1 ? " broker" : " brokers") + " at " + bootstraps
           + (control_port
                ? "; control on 127.0.0.1:" + std::to_string(*control_port)
                : std::string())
           + "; SIGTERM or SIGINT stops it");
  if (!opts.ready_file.empty())
    write_ready_file(opts.ready_file, bootstraps, control_port, opts.brokers);

  std::vector<control_client> clients;
  int stop_signal = 0;
  while (stop_signal == 0) {
    std::vector<pollfd> fds;
    fds.push_back({signal_fd.fd, POLLIN, 0});
    if (control_fd.fd >= 0)
      fds.push_back({control_fd.fd, POLLIN, 0});
    for (const auto& c : clients)
      fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd.fd, &info, sizeof info) == sizeof info)
        stop_signal = static_cast<int>(info.ssi_signo);
      continue;
    }
    size_t first_client = 1;
    if (control_fd.fd >= 0) {
      first_client = 2;
      if (fds[1].revents & POLLIN) {
        int fd = ::accept4(control_fd.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          timeval timeout{1, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
          if (clients.size() >= static_cast<size_t>(max_control_clients)) {
            send_line(fd, "error: too many control connections");
            ::close(fd);
          } else {
            clients.push_back({fd, {}});
          }
        }
      }
    }
    // Walk the clients polled this round; accepted ones wait for the next.
    std::vector<control_client> kept;
    for (size_t i = 0; i < clients.size(); ++i) {
      auto revents
        = i + first_client < fds.size() ? fds[i + first_client].revents : 0;
      bool keep = true;
      if (revents & (POLLIN | POLLHUP | POLLERR))
        keep = serve_client(clients[i], ctl);
      if (keep)
        kept.push_back(std::move(clients[i]));
      else
        ::close(clients[i].fd);
    }
    clients = std::move(kept);
  }

  log_line(std::string("received ")
           + (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") + "; stopping");
  for (const auto& c : clients)
    ::close(c.fd);
  if (!opts.ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(opts.ready_file, ec);
  }
  cluster.reset();
  rk.reset();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    opts = parse_args(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "prism-kafka-mock: " << e.what() << "\n\n" << usage_text;
    return exit_usage;
  }
  try {
    return run(opts);
  } catch (const std::exception& e) {
    log_line(std::string("cannot run: ") + e.what());
    return exit_failure;
  }
}
