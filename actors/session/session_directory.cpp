#include "session/session_directory.hpp"

#include <mutex>

#include <fmt/format.h>

#include "session/session.hpp"

namespace prism {

session_directory::session_directory(caf::actor_system& sys,
                                     session_options options,
                                     live_routes_ptr routes)
  : sys_(sys), options_(options), routes_(std::move(routes)) {}

call_ptr session_directory::enqueue(const entry& e, call_ptr call) {
  if (!e.gate->try_acquire())
    return call;
  caf::anon_send(e.handle, request_atom::value, std::move(call));
  return nullptr;
}

void session_directory::refuse(call_ptr call) const {
  auto outcome = overload_refusal(
    refusal::mailbox_full,
    fmt::format("the gateway is overloaded: {} requests of this client "
                "connection are already waiting to be taken; retry later",
                options_.mailbox_limit));
  if (auto table = routes_->load(); table && table->rejections)
    table->rejections->count(call->context.ns, refusal::mailbox_full);
  call->complete(std::move(outcome));
}

void session_directory::dispatch(const std::string& client, call_ptr call) {
  call_ptr refused;
  bool found = false;
  {
    std::shared_lock<std::shared_mutex> guard{mutex_};
    auto i = sessions_.find(client);
    if (i != sessions_.end()) {
      found = true;
      refused = enqueue(i->second, std::move(call));
    }
  }
  if (found) {
    if (refused)
      refuse(std::move(refused));
    return;
  }
  std::unique_lock<std::shared_mutex> guard{mutex_};
  auto& e = sessions_[client];
  if (!e.handle) {
    e.gate = std::make_shared<admission>(options_.mailbox_limit);
    e.figures = std::make_shared<session_figures>(sys_.clock().now());
    e.handle = sys_.spawn(session, client, weak_from_this(), routes_, options_,
                          e.gate, e.figures);
    auto& handle = e.handle;
    // However a session ends (idle, killed, a failed handler), it leaves
    // the directory, so the client's next call starts a fresh one instead of
    // going to an actor that is gone.
    handle->attach_functor(
      [dir = weak_from_this(), client, who = handle.address()] {
        if (auto d = dir.lock())
          d->remove(client, who);
      });
  }
  refused = enqueue(e, std::move(call));
  guard.unlock();
  if (refused)
    refuse(std::move(refused));
}

void session_directory::remove(const std::string& client,
                               const caf::actor_addr& who) {
  std::unique_lock<std::shared_mutex> guard{mutex_};
  auto i = sessions_.find(client);
  if (i != sessions_.end() && i->second.handle.address() == who)
    sessions_.erase(i);
}

void session_directory::stop_all() {
  std::unique_lock<std::shared_mutex> guard{mutex_};
  for (auto& [client, e] : sessions_)
    caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  sessions_.clear();
}

session_actor session_directory::find(const std::string& client) const {
  std::shared_lock<std::shared_mutex> guard{mutex_};
  auto i = sessions_.find(client);
  return i != sessions_.end() ? i->second.handle : session_actor{};
}

void session_directory::announce_reload() const {
  std::shared_lock<std::shared_mutex> guard{mutex_};
  for (auto& [client, e] : sessions_)
    caf::anon_send(e.handle, reload_atom::value);
}

std::vector<client_report> session_directory::clients(
  caf::actor_clock::time_point now) const {
  std::vector<client_report> out;
  std::shared_lock<std::shared_mutex> guard{mutex_};
  out.reserve(sessions_.size());
  for (auto& [client, e] : sessions_) {
    client_report r;
    r.actor = e.handle ? e.handle.id() : 0;
    // The key is "<peer>" or "<peer> as <principal>" (a peer has no spaces).
    auto as = client.find(" as ");
    r.peer = client.substr(0, as);
    if (as != std::string::npos)
      r.principal = client.substr(as + 4);
    if (auto& f = e.figures) {
      if (now > f->started_at)
        r.age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     now - f->started_at)
                     .count();
      r.in_flight = f->in_flight.load(std::memory_order_relaxed);
      r.streams = f->streams.load(std::memory_order_relaxed);
      r.calls = f->calls.load(std::memory_order_relaxed);
    }
    out.push_back(std::move(r));
  }
  return out;
}

size_t session_directory::size() const {
  std::shared_lock<std::shared_mutex> guard{mutex_};
  return sessions_.size();
}

} // namespace prism
