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

postgres_driver::postgres_driver(const config::backend& backend,
                                 uint32_t index,
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
  worker_ = std::thread([this] { run(); });
}

postgres_driver::~postgres_driver() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
    shutting_down_.store(true);
    if (running_ && cancel_ != nullptr) {
      char error[256];
      PQcancel(cancel_, error, sizeof error);
    }
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  wake_.notify_all();
  if (worker_.joinable())
    worker_.join();
  ::close(wake_fd_);
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

void postgres_driver::submit(job j) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!stopping_) {
      queue_.push_back(std::move(j));
      wake_.notify_one();
      return;
    }
  }
  j.fail();
}

void postgres_driver::execute(std::string ns, operation_ptr op,
                              op_timeout timeout, completion done) {
  if (auto j = job::operation(std::move(ns), std::move(op), timeout,
                              std::move(done)))
    submit(std::move(*j));
}

void postgres_driver::reclaim_expired(uint32_t max_keys,
                                      reclaim_completion done) {
  submit(job::reclaim(max_keys, std::move(done)));
}

std::string postgres_driver::describe() const {
  return description_;
}

void postgres_driver::open(std::unique_ptr<postgres_session>& session) {
  const std::string where = "cannot connect to PostgreSQL at "
                            + settings_.target + " as "
                            + settings_.application_name + ": ";
  try {
    std::string password = settings_.password();
    if (!password.empty()
        && std::find(secrets_.begin(), secrets_.end(), password)
             == secrets_.end())
      secrets_.push_back(password);
    session = std::make_unique<postgres_session>(settings_, password, wake_fd_,
                                                 shutting_down_);
    PGcancel* cancel = session->make_cancel();
    std::lock_guard<std::mutex> guard{mutex_};
    cancel_ = cancel;
  } catch (const connect_interrupted&) {
    session.reset();
    broken_ = "driver shutting down";
    return;
  } catch (const std::exception& e) {
    session.reset();
    broken_ = mask(where + one_line(e.what()));
  }
}

void postgres_driver::close(std::unique_ptr<postgres_session>& session) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (cancel_ != nullptr)
      PQfreeCancel(cancel_);
    cancel_ = nullptr;
  }
  session.reset();
}

void postgres_driver::run() {
  std::unique_ptr<postgres_session> session;
  open(session);
  for (;;) {
    job j;
    bool idle = false;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (session && settings_.idle_timeout_ms > 0)
        idle = !wake_.wait_until(
          lock,
          session->last_used()
            + std::chrono::milliseconds(settings_.idle_timeout_ms),
          ready);
      else
        wake_.wait(lock, ready);
      if (stopping_)
        break;
      if (!idle) {
        j = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (idle) {
      // Idle too long: give the server its connection back; the next job
      // connects again.
      close(session);
      continue;
    }
    if (broken_.empty() && session && settings_.max_lifetime_ms > 0
        && steady::now() - session->opened_at()
             >= std::chrono::milliseconds(settings_.max_lifetime_ms))
      close(session);
    // A request (re)connects; a reclaim round does not: it waits for the
    // next connection rather than keep one open for itself.
    if (broken_.empty() && !session && j.done)
      open(session);
    if (shutting_down_.load()) {
      j.fail();
      continue;
    }

    if (j.done) {
      model::outcome out;
      if (!broken_.empty()) {
        out = model::outcome::lost(broken_);
      } else {
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = true;
        }
        try {
          out = session->execute(j.ns, *j.op, clock_->now_ms(), j.deadline);
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
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = false;
        }
        if (!broken_.empty())
          close(session);
      }
      out.status.message = mask(std::move(out.status.message));
      j.finish(std::move(out));
    } else if (j.reclaim_done) {
      uint64_t removed = 0;
      if (broken_.empty() && session) {
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = true;
        }
        try {
          removed = session->reclaim_expired(clock_->now_ms(), j.max_keys);
        } catch (const connection_broken& b) {
          broken_ = "lost the connection to PostgreSQL at " + settings_.target
                    + ": " + b.reason;
        } catch (...) {
        }
        {
          std::lock_guard<std::mutex> guard{mutex_};
          running_ = false;
        }
        if (!broken_.empty())
          close(session);
      }
      j.finish_reclaim(removed);
    }
  }
  close(session);
  std::deque<job> rest;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    rest.swap(queue_);
  }
  for (auto& j : rest)
    j.fail();
}

} // namespace prism::drivers
