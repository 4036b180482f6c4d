#include "session/session_directory.hpp"

#include <mutex>

#include "session/session.hpp"

namespace prism {

session_directory::session_directory(caf::actor_system& sys,
                                     session_options options,
                                     route_table_ptr routes)
  : sys_(sys), options_(options), routes_(std::move(routes)) {
}

void session_directory::dispatch(const std::string& client, call_ptr call) {
  {
    std::shared_lock<std::shared_mutex> guard{mutex_};
    auto i = sessions_.find(client);
    if (i != sessions_.end()) {
      caf::anon_send(i->second, request_atom::value, std::move(call));
      return;
    }
  }
  std::unique_lock<std::shared_mutex> guard{mutex_};
  auto& handle = sessions_[client];
  if (!handle) {
    handle = sys_.spawn(session, client, weak_from_this(), routes_, options_);
    // However a session ends (idle, killed, a failed handler), it leaves
    // the directory, so the client's next call starts a fresh one instead of
    // going to an actor that is gone.
    handle->attach_functor(
      [dir = weak_from_this(), client, who = handle.address()] {
        if (auto d = dir.lock())
          d->remove(client, who);
      });
  }
  caf::anon_send(handle, request_atom::value, std::move(call));
}

void session_directory::remove(const std::string& client,
                               const caf::actor_addr& who) {
  std::unique_lock<std::shared_mutex> guard{mutex_};
  auto i = sessions_.find(client);
  if (i != sessions_.end() && i->second.address() == who)
    sessions_.erase(i);
}

void session_directory::stop_all() {
  std::unique_lock<std::shared_mutex> guard{mutex_};
  for (auto& [client, handle] : sessions_)
    caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  sessions_.clear();
}

session_actor session_directory::find(const std::string& client) const {
  std::shared_lock<std::shared_mutex> guard{mutex_};
  auto i = sessions_.find(client);
  return i != sessions_.end() ? i->second : session_actor{};
}

size_t session_directory::size() const {
  std::shared_lock<std::shared_mutex> guard{mutex_};
  return sessions_.size();
}

} // namespace prism
