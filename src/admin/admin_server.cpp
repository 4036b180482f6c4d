#include "admin/admin_server.hpp"

#include <stdexcept>

#include <httplib.h>

#include "admin/elastic_pool.hpp"
#include "admin/http_answer.hpp"
#include "config/config.hpp"

namespace prism::admin {

namespace {

/// httplib answers 400 to a POST without Content-Length (`curl -X POST`)
/// before routing it, unless the handler reads the body itself: so these
/// handlers read (and ignore) a body only when the request announces one.
httplib::Server::HandlerWithContentReader with_body_read(
  httplib::Server::Handler handler) {
  return [handler = std::move(handler)](
           const httplib::Request& req, httplib::Response& res,
           const httplib::ContentReader& read_body) {
    if (req.has_header("Content-Length")
        || req.get_header_value("Transfer-Encoding") == "chunked")
      read_body([](const char*, size_t) { return true; });
    handler(req, res);
  };
}

/// httplib's task queue over the elastic pool.
class elastic_task_queue : public httplib::TaskQueue {
public:
  elastic_task_queue()
    : pool_(admin_server::workers_idle, admin_server::workers,
            admin_server::worker_idle_for) {}
  void enqueue(std::function<void()> fn) override {
    pool_.enqueue(std::move(fn));
  }
  void shutdown() override { pool_.shutdown(); }

private:
  elastic_pool pool_;
};

} // namespace

admin_server::admin_server(const std::string& listen, admin_hooks hooks)
  : http_(std::make_unique<httplib::Server>()), hooks_(std::move(hooks)) {
  std::string host;
  uint16_t port = 0;
  if (!config::split_host_port(listen, host, port))
    throw std::invalid_argument("admin address \"" + listen
                                + "\" is not HOST:PORT");
  if (host.size() > 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  // A probe gets through while slow or idle clients hold connections: each
  // holds a worker, there are enough of them, and one that sends nothing
  // for a while is let go. Workers are started as connections need them
  // and end when idle, so an idle gateway keeps one.
  http_->new_task_queue = [] {
    return new elastic_task_queue;
  };
  // httplib binds with SO_REUSEPORT, so a second gateway given the same
  // admin address would share the port (and its probes and reloads) instead
  // of failing to start. SO_REUSEADDR alone lets a restart bind at once.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http_->set_read_timeout(idle_timeout_s, 0);
  http_->set_keep_alive_timeout(idle_timeout_s);
  // Every method on an endpoint's path goes to the routing (the endpoint,
  // or 405 naming the method to use), and GET of the index; other paths
  // and methods are httplib's 404 (or 400). httplib hands HEAD to the GET
  // handlers.
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    answer_request(hooks_, req, res);
  };
  const auto paths = routed_paths_pattern();
  http_->Get(paths, handler);
  http_->Post(paths, with_body_read(handler));
  http_->Put(paths, with_body_read(handler));
  http_->Delete(paths, with_body_read(handler));
  http_->Patch(paths, with_body_read(handler));
  http_->Options(paths, handler);
  http_->Get("/", handler);
  port_ = port == 0 ? http_->bind_to_any_port(host)
                    : (http_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0)
    throw std::runtime_error("cannot listen for admin HTTP on " + listen
                             + ": the address is invalid, in use, or not "
                               "allowed (pick another with --admin)");
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

admin_server::~admin_server() {
  stop();
}

void admin_server::stop() {
  if (thread_.joinable()) {
    http_->stop();
    thread_.join();
  }
}

} // namespace prism::admin
