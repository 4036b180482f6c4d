#include "drivers/postgres/postgres_connect.hpp"

#include <poll.h>

#include <pqxx/except>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <stdexcept>

#include "config/config.hpp"
#include "config/defaults.hpp"
#include "drivers/driver_job.hpp"

namespace prism::drivers {

namespace postgres_detail {

std::string one_line(std::string text) {
  for (const char* prefix : {"ERROR:  ", "FATAL:  "})
    if (text.rfind(prefix, 0) == 0)
      text.erase(0, std::strlen(prefix));
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty())
      out += out.back() == '.' || out.back() == ':' ? " " : "; ";
    space = false;
    out += c;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
    out.pop_back();
  return out;
}

std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

// --- connecting -------------------------------------------------------------

namespace {

/// The context of the connection being made on this thread (set only while
/// a pg_connection is constructed).
thread_local connect_context* connecting = nullptr;

} // namespace

connect_policy::connect_policy(const std::string& options)
  : pqxx::connectionpolicy(options), context_(connecting) {}

connect_policy::handle connect_policy::do_startconnect(handle orig) {
  if (orig != nullptr)
    return orig;
  if (used_)
    throw pqxx::broken_connection{"the connection was lost"};
  used_ = true;
  PGconn* conn = PQconnectStart(options().c_str());
  if (conn == nullptr)
    throw std::bad_alloc{};
  auto give_up = [&](std::string why) {
    PQfinish(conn);
    throw pqxx::broken_connection{why};
  };
  if (PQstatus(conn) == CONNECTION_BAD)
    give_up(PQerrorMessage(conn));
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED)
      give_up(PQerrorMessage(conn));
    const int sock = PQsocket(conn);
    if (sock < 0) {
      state = PQconnectPoll(conn);
      continue;
    }
    pollfd fds[2] = {};
    fds[0].fd = sock;
    fds[0].events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    nfds_t count = 1;
    int wait_ms = -1;
    if (context_ != nullptr) {
      if (context_->wake_fd >= 0) {
        fds[1].fd = context_->wake_fd;
        fds[1].events = POLLIN;
        count = 2;
      }
      if (context_->deadline != time_point::max()) {
        const int64_t left
          = deadline_ms_left(context_->deadline, steady::now());
        if (left <= 0)
          give_up("no answer within connect_timeout_ms ("
                  + std::to_string(context_->timeout_ms) + " ms)");
        wait_ms = static_cast<int>(
          std::min<int64_t>(left, defaults::postgres_connect_poll_max_ms));
      }
    }
    const int rc = ::poll(fds, count, wait_ms);
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      give_up(std::string("poll failed: ") + std::strerror(errno));
    }
    if (count == 2 && fds[1].revents != 0) {
      PQfinish(conn);
      throw connect_interrupted{};
    }
    if (rc == 0)
      continue; // the deadline check above ends it
    state = PQconnectPoll(conn);
  }
  if (context_ != nullptr)
    context_->handle = conn;
  return conn;
}

connect_policy::handle connect_policy::do_dropconnect(handle orig) noexcept {
  if (context_ != nullptr && context_->handle == orig)
    context_->handle = nullptr;
  return orig;
}

std::unique_ptr<pg_connection> open_connection(const std::string& conninfo,
                                               connect_context& context) {
  struct guard {
    guard(connect_context* c) { connecting = c; }
    ~guard() { connecting = nullptr; }
  } set{&context};
  return std::make_unique<pg_connection>(conninfo);
}

} // namespace postgres_detail

// --- settings ---------------------------------------------------------------

std::string postgres_settings::password() const {
  if (!password_env.empty()) {
    const char* value = std::getenv(password_env.c_str());
    if (value == nullptr)
      throw std::runtime_error("postgres backend \"" + backend
                               + "\": the environment variable " + password_env
                               + " (password_env) is not set");
    return value;
  }
  if (!password_file.empty()) {
    std::ifstream in(password_file, std::ios::binary);
    if (!in)
      throw std::runtime_error("postgres backend \"" + backend
                               + "\": cannot read password_file \""
                               + password_file + "\": " + std::strerror(errno));
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (in.bad())
      throw std::runtime_error("postgres backend \"" + backend
                               + "\": cannot read password_file \""
                               + password_file + "\"");
    return line;
  }
  return password_in_dsn;
}

namespace postgres_detail {

postgres_settings make_settings(const config::backend& b, uint32_t index) {
  postgres_settings s;
  s.backend = b.name;
  s.index = index;
  s.application_name = postgres_driver::application_name(b.name, index);
  s.password_env = b.postgres.password_env;
  s.password_file = b.postgres.password_file;
  s.connect_timeout_ms = b.postgres.connect_timeout_ms;
  s.statement_timeout_ms = b.postgres.statement_timeout_ms;
  s.idle_timeout_ms = b.postgres.idle_timeout_ms;
  s.max_lifetime_ms = b.postgres.max_lifetime_ms;
  const std::string prefix = "postgres backend \"" + b.name + "\": ";
  if (b.postgres.dsn.empty())
    throw std::runtime_error(prefix + "no dsn configured");
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(b.postgres.dsn.c_str(), &error);
  PQfreemem(error);
  if (options == nullptr)
    // libpq's reason may quote the string, which may hold a secret; the
    // config loader reports it in detail.
    throw std::runtime_error(prefix
                             + "dsn is not a valid libpq connection string "
                               "(`prism check` shows why)");
  std::map<std::string, std::string> given;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0')
      continue;
    const std::string keyword = o->keyword;
    if (keyword == "password") {
      s.password_in_dsn = o->val;
      continue;
    }
    given[keyword] = o->val;
    if (keyword == "application_name" || keyword == "connect_timeout"
        || keyword == "fallback_application_name")
      continue;
    s.conninfo += keyword + "=" + quoted(o->val) + " ";
  }
  PQconninfoFree(options);
  auto part = [&](const char* key) {
    auto i = given.find(key);
    return i == given.end() ? std::string{} : i->second;
  };
  std::string host = part("host");
  if (host.empty())
    host = part("hostaddr");
  if (host.empty())
    host = "localhost";
  s.target = host;
  if (!part("port").empty())
    s.target += ":" + part("port");
  if (!part("user").empty())
    s.target = part("user") + "@" + s.target;
  if (!part("dbname").empty())
    s.target += "/" + part("dbname");
  // Fail now, not on every reconnect, when the password cannot be had.
  (void)s.password();
  return s;
}

} // namespace postgres_detail

} // namespace prism::drivers
