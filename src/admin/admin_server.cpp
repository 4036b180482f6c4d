#include "admin/admin_server.hpp"

#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "config/config.hpp"

namespace prism::admin {

namespace {

struct endpoint {
  const char* method;
  const char* path;
  const char* help;
  std::function<void(const admin_hooks&, httplib::Response&)> handle;
};

const std::vector<endpoint>& endpoints() {
  static const std::vector<endpoint> table = {
    {"GET", "/healthz", "200 while the process runs",
     [](const admin_hooks&, httplib::Response& res) {
       res.set_content("ok\n", "text/plain");
     }},
    {"GET", "/readyz", "200 while the gateway accepts requests, else 503",
     [](const admin_hooks& hooks, httplib::Response& res) {
       bool ready = hooks.ready && hooks.ready();
       res.status = ready ? 200 : 503;
       res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
     }},
    {"GET", "/metrics", "counters in Prometheus text format",
     [](const admin_hooks& hooks, httplib::Response& res) {
       res.set_content(hooks.metrics ? hooks.metrics() : std::string{},
                       "text/plain; version=0.0.4");
     }},
  };
  return table;
}

std::string index_text() {
  std::string text = "Prism admin endpoints:\n";
  for (auto& e : endpoints())
    text += fmt::format("  {:<5} {:<10} {}\n", e.method, e.path, e.help);
  return text;
}

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
  for (auto& e : endpoints())
    http_->Get(e.path, [this, &e](const httplib::Request&,
                                  httplib::Response& res) {
      e.handle(hooks_, res);
    });
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(index_text(), "text/plain");
  });
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
