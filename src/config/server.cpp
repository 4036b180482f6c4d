// The server: section: the gRPC and admin listeners, TLS on the gRPC
// listener, the limits of sessions and stages, and the scheduler.

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"
#include "config/tls_files.hpp"

namespace prism::config::detail {

namespace {

const std::vector<std::string> server_keys = {"listen",
                                              "admin",
                                              "session_idle_timeout_ms",
                                              "session_max_in_flight",
                                              "session_mailbox_limit",
                                              "stage_mailbox_limit",
                                              "router_mailbox_limit",
                                              "drain_timeout_ms",
                                              "scheduler",
                                              "tls"};
const std::vector<std::string> scheduler_keys
  = {"max_throughput", "threads", "pollers"};
const std::vector<std::string> tls_keys
  = {"cert_file", "key_file", "client_ca_file"};

/// server.tls: a certificate and its key, both or neither, and the CA that
/// client certificates must chain to; each file is read and checked now so a
/// problem is reported here rather than when the listener starts.
void check_tls(checker& c, const entry& e, const std::string& field,
               tls_options& out) {
  section s = c.open(e.value, field, c.at(e.key), "a map of TLS settings");
  c.unknown_keys(s, tls_keys,
                 {{"ca_file", "did you mean client_ca_file?"},
                  {"cert", "did you mean cert_file?"},
                  {"key", "did you mean key_file?"}});
  auto file = [&](const char* key, std::string& value, auto problem_of) {
    const entry* v = s.find(key);
    if (!v || !c.text(*v, s.path(key), value, "give the path of a PEM file"))
      return false;
    if (auto why = problem_of(value); !why.empty()) {
      c.report(c.at(v->value), s.path(key), why,
               "give a readable PEM file (paths are relative to the working "
               "directory)");
      return false;
    }
    return true;
  };
  bool cert_ok = file("cert_file", out.cert_file, certificate_file_problem);
  bool key_ok = file("key_file", out.key_file, private_key_file_problem);
  file("client_ca_file", out.client_ca_file, certificate_file_problem);
  if (s.find("cert_file") && !s.find("key_file"))
    c.missing(s, "key_file",
              "give the certificate's private key: key_file: server.key");
  if (s.find("key_file") && !s.find("cert_file"))
    c.missing(s, "cert_file",
              "give the server's certificate: cert_file: server.crt");
  if (!s.find("cert_file") && !s.find("key_file") && s.valid)
    c.report(s.where, field, "TLS needs the server's certificate and key",
             "set cert_file: and key_file:, or remove tls:");
  if (cert_ok && key_ok)
    if (auto why = key_pair_problem(out.cert_file, out.key_file); !why.empty())
      c.report(c.at(s.find("key_file")->value), s.path("key_file"), why,
               "give the key the certificate was issued for");
}

/// Reads listen: and admin:, and reports an admin listener on the gRPC
/// listener's address and port.
void check_listeners(checker& c, const section& s, server_options& out) {
  std::string listen_host, admin_host;
  uint16_t listen_port = 0, admin_port = 0;
  bool listen_ok = false, admin_ok = false;
  if (const entry* v = s.find("listen"))
    listen_ok
      = c.address(*v, s.path("listen"), out.listen, listen_host, listen_port);
  else
    listen_ok = split_host_port(out.listen, listen_host, listen_port);
  if (const entry* v = s.find("admin"))
    admin_ok
      = c.address(*v, s.path("admin"), out.admin, admin_host, admin_port);
  else
    admin_ok = split_host_port(out.admin, admin_host, admin_port);

  if (listen_ok && admin_ok && listen_port != 0 && listen_port == admin_port
      && (lower(listen_host) == lower(admin_host) || wildcard_host(listen_host)
          || wildcard_host(admin_host))) {
    const entry* where = s.find("admin") ? s.find("admin") : s.find("listen");
    std::string other = where->name == "admin" ? "listen" : "admin";
    std::string next = listen_port < 65535 ? std::to_string(listen_port + 1)
                                           : std::to_string(listen_port - 1);
    std::string host = where->name == "admin" ? admin_host : listen_host;
    if (host.find(':') != std::string::npos)
      host = "[" + host + "]";
    c.report(c.at_value(*where), s.path(where->name),
             "admin listener " + out.admin + " collides with the gRPC listener "
               + out.listen,
             "give " + where->name + " a different port than " + other
               + ", e.g. " + host + ":" + next);
  }
}

/// Reads scheduler: (entry `v`), the actor scheduler's throughput and threads.
void check_scheduler(checker& c, const section& s, const entry& v,
                     server_options& out) {
  section sched = c.open(v.value, s.path("scheduler"), c.at(v.key),
                         "a map of scheduler settings");
  c.unknown_keys(sched, scheduler_keys);
  if (const entry* t = sched.find("max_throughput"))
    c.number(*t, sched.path(t->name), 1, 100000, out.scheduler_max_throughput);
  if (const entry* t = sched.find("threads"))
    c.number(*t, sched.path(t->name), 0, 64, out.scheduler_threads,
             "use 0 (one thread per core) or a thread count from 1 to 64");
  if (const entry* t = sched.find("pollers"))
    c.number(*t, sched.path(t->name), 0, 64, out.scheduler_pollers,
             "use 0 (one per four threads, at least one) or a count from 1 "
             "to 64 (more than `threads` counts as all of them)");
}

} // namespace

void check_server(checker& c, const entry& e, server_options& out) {
  section s
    = c.open(e.value, "server", c.at(e.key), "a map of server settings");
  c.unknown_keys(
    s, server_keys,
    {{"max_throughput", "it belongs under server.scheduler:"},
     {"threads", "it belongs under server.scheduler:"},
     {"mailbox_limit",
      "a pool's mailbox_limit belongs under backends.<name>:; here use "
      "session_mailbox_limit, stage_mailbox_limit or router_mailbox_limit"},
     {"supervision",
      "it belongs under backends.<name>: (each backend has its own)"},
     {"circuit",
      "it belongs under backends.<name>: (each backend has its own)"}});

  check_listeners(c, s, out);

  if (const entry* v = s.find("session_idle_timeout_ms"))
    c.number(*v, s.path(v->name), 1000, 86400000, out.session_idle_timeout_ms,
             "use 1000..86400000 milliseconds (1 second to 1 day)");

  if (const entry* v = s.find("session_max_in_flight"))
    c.number(*v, s.path(v->name), 1, 1000000, out.session_max_in_flight,
             "use 1..1000000 requests");

  if (const entry* v = s.find("session_mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, out.session_mailbox_limit,
             "use 1..1000000 requests");

  if (const entry* v = s.find("stage_mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, out.stage_mailbox_limit,
             "use 1..1000000 requests");

  if (const entry* v = s.find("router_mailbox_limit"))
    c.number(*v, s.path(v->name), 1, 1000000, out.router_mailbox_limit,
             "use 1..1000000 requests");

  if (const entry* v = s.find("drain_timeout_ms"))
    c.number(*v, s.path(v->name), 0, 3600000, out.drain_timeout_ms,
             "use 0..3600000 milliseconds (up to 1 hour)");

  if (const entry* v = s.find("tls"))
    check_tls(c, *v, s.path("tls"), out.tls);

  if (const entry* v = s.find("scheduler"))
    check_scheduler(c, s, *v, out);
}

} // namespace prism::config::detail
