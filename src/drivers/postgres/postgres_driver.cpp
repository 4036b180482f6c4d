#include "drivers/postgres/postgres_driver.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "config/config.hpp"
#include "drivers/postgres/postgres_session.hpp"

namespace prism::drivers {

using namespace postgres_detail;

// --- the driver -------------------------------------------------------------

std::string postgres_driver::application_name(const std::string& backend,
                                              uint32_t index) {
  return "prism:" + backend + "#" + std::to_string(index);
}

postgres_driver::postgres_driver(const config::backend& backend, uint32_t index,
                                 std::shared_ptr<wall_clock> clock)
  : settings_(make_settings(backend, index)),
    description_("postgres " + settings_.target + " #" + std::to_string(index)),
    clock_(std::move(clock)) {
  if (!clock_)
    throw std::invalid_argument("postgres_driver needs a clock");
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    throw std::runtime_error("postgres backend \"" + backend.name
                             + "\": cannot make an eventfd: "
                             + std::strerror(errno));
  worker_.start();
}

postgres_driver::~postgres_driver() {
  worker_.stop();
  ::close(wake_fd_);
}

void postgres_driver::stopping() {
  shutting_down_.store(true);
  {
    std::lock_guard<std::mutex> guard{cancel_mutex_};
    if (running_ && cancel_ != nullptr) {
      char error[256];
      PQcancel(cancel_, error, sizeof error);
    }
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

std::string postgres_driver::mask(std::string text) const {
  for (const auto& secret : secrets_) {
    if (secret.empty())
      continue;
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + 3))
      text.replace(at, secret.size(), "***");
  }
  return text;
}

void postgres_driver::execute(std::string ns, operation_ptr op,
                              op_timeout timeout, completion done) {
  worker_.execute(std::move(ns), std::move(op), timeout, std::move(done));
}

void postgres_driver::reclaim_expired(uint32_t max_keys,
                                      reclaim_completion done) {
  worker_.reclaim_expired(max_keys, std::move(done));
}

std::string postgres_driver::describe() const {
  return description_;
}

void postgres_driver::open() {
  const std::string where = "cannot connect to PostgreSQL at "
    + settings_.target + " as " + settings_.application_name + ": ";
  try {
    std::string password = settings_.password();
    if (!password.empty()
        && std::find(secrets_.begin(), secrets_.end(), password)
          == secrets_.end())
      secrets_.push_back(password);
    session_ = std::make_unique<postgres_session>(settings_, password, wake_fd_,
                                                  shutting_down_);
    PGcancel* cancel = session_->make_cancel();
    std::lock_guard<std::mutex> guard{cancel_mutex_};
    cancel_ = cancel;
  } catch (const connect_interrupted&) {
    session_.reset();
    broken_ = "driver shutting down";
    return;
  } catch (const std::exception& e) {
    session_.reset();
    broken_ = mask(where + one_line(e.what()));
  }
}

void postgres_driver::close() {
  {
    std::lock_guard<std::mutex> guard{cancel_mutex_};
    if (cancel_ != nullptr)
      PQfreeCancel(cancel_);
    cancel_ = nullptr;
  }
  session_.reset();
}

void postgres_driver::set_running(bool running) {
  std::lock_guard<std::mutex> guard{cancel_mutex_};
  running_ = running;
}

void postgres_driver::started() {
  open();
}

postgres_driver::time_point postgres_driver::idle_until() {
  if (session_ && settings_.idle_timeout_ms > 0)
    return session_->last_used()
      + std::chrono::milliseconds(settings_.idle_timeout_ms);
  return time_point::max();
}

void postgres_driver::idle() {
  // Idle too long: give the server its connection back; the next job
  // connects again.
  close();
}

bool postgres_driver::admit(const driver_job& j) {
  if (broken_.empty() && session_ && settings_.max_lifetime_ms > 0
      && steady::now() - session_->opened_at()
        >= std::chrono::milliseconds(settings_.max_lifetime_ms))
    close();
  // A request (re)connects; a reclaim round does not: it waits for the
  // next connection rather than keep one open for itself.
  if (broken_.empty() && !session_ && j.done)
    open();
  return !shutting_down_.load();
}

model::outcome postgres_driver::run(const driver_job& j) {
  model::outcome out;
  if (!broken_.empty()) {
    out = model::outcome::lost(broken_);
  } else {
    set_running(true);
    try {
      out = session_->execute(j.ns, *j.op, clock_->now_ms(), j.deadline);
    } catch (const connection_broken& b) {
      broken_ = "lost the connection to PostgreSQL at " + settings_.target
        + ": " + b.reason;
      // outcome::lost means "not applied" unless it says otherwise.
      out = model::outcome::lost(
        b.in_doubt ? broken_
            + "; it broke while the request committed, which "
              "may or may not have been applied"
                   : broken_);
    } catch (...) {
      out = model::outcome::failure(status_code::internal,
                                    "unexpected failure in postgres driver");
    }
    set_running(false);
    if (!broken_.empty())
      close();
  }
  out.status.message = mask(std::move(out.status.message));
  return out;
}

uint64_t postgres_driver::reclaim(const driver_job& j) {
  uint64_t removed = 0;
  if (broken_.empty() && session_) {
    set_running(true);
    try {
      removed = session_->reclaim_expired(clock_->now_ms(), j.max_keys);
    } catch (const connection_broken& b) {
      broken_ = "lost the connection to PostgreSQL at " + settings_.target
        + ": " + b.reason;
    } catch (...) {
    }
    set_running(false);
    if (!broken_.empty())
      close();
  }
  return removed;
}

void postgres_driver::stopped() {
  close();
}

} // namespace prism::drivers
