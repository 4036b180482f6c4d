#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "admin/admin_server.hpp"
#include "admin/debug_hooks.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "drivers/factory.hpp"
#include "frontend/cq_scheduler.hpp"
#include "frontend/grpc_server.hpp"
#include "frontend/tls.hpp"
#include "gateway/gateway.hpp"
#include "logging/log.hpp"
#include "runtime/inspector.hpp"

namespace prism::cli {

namespace {

/// Whether a listen address only takes connections from this machine.
bool loopback_listen(const std::string& listen) {
  std::string host;
  uint16_t port = 0;
  if (!config::split_host_port(listen, host, port))
    return false;
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

/// Set when the root supervisor failed and the process stops because of it.
std::atomic<bool> root_failure{false};

struct serve_options {
  std::string config_path = "config/prism.yaml";
  std::string listen;
  std::string admin;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string ready_file;
  /// Overrides server.drain_timeout_ms when set.
  std::optional<uint32_t> drain_timeout_ms;
};

/// `ms` milliseconds as whole seconds, for messages and help texts.
std::string whole_seconds(uint32_t ms) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::milliseconds(ms))
                          .count());
}

/// Parses a duration like "30s", "1500ms", "2m" or a plain number of
/// seconds into milliseconds; false when it is none of these.
bool parse_duration_ms(const std::string& text, uint32_t& out) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return false;
  }
  auto unit = text.substr(used);
  constexpr double ms_per_second
    = std::chrono::milliseconds(std::chrono::seconds(1)).count();
  constexpr double ms_per_minute
    = std::chrono::milliseconds(std::chrono::minutes(1)).count();
  double scale = unit.empty() || unit == "s" ? ms_per_second
    : unit == "ms"                           ? 1
    : unit == "m"                            ? ms_per_minute
                                             : -1;
  if (scale < 0 || value < 0 || value * scale > defaults::cli_duration_max_ms)
    return false;
  out = static_cast<uint32_t>(value * scale);
  return true;
}

/// Writes the ports where a supervisor or test can find them; atomically, so
/// a reader never sees half a file.
void write_ready_file(const std::string& path, int grpc_port, int admin_port) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"grpc_port\": " << grpc_port << ", \"admin_port\": " << admin_port
        << ", \"pid\": " << ::getpid() << "}\n";
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw std::runtime_error("cannot write the ready file \"" + tmp + "\"");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error("cannot move \"" + tmp + "\" to the ready file \""
                             + path + "\": " + ec.message());
  }
}

/// Scheduler settings. A finite max-throughput keeps one busy actor (a stage
/// every request passes) from holding a worker until its mailbox is empty
/// while sessions wait. CAF's work stealing by default polls its queue
/// with 50 µs sleeps for a long while before it parks a worker on a
/// condition variable; on a small machine those sleeps add their length to
/// every request that arrives from a gRPC thread and steal CPU from gRPC, so
/// a worker spins briefly and then parks, and a new job wakes it at once.
/// The pollers among the workers also drive the gRPC services' completion
/// queues (frontend/cq_scheduler.hpp), where an idle one waits instead.
void configure_scheduler(const config::server_options& server,
                         caf::actor_system_config& sys_cfg) {
  sys_cfg.set("scheduler.max-throughput",
              static_cast<size_t>(server.scheduler_max_throughput));
  // CAF's own default is at least four threads; on a smaller machine the
  // extra ones only take turns polling gRPC and waking each other. The
  // cores are those the process may run on (a cpuset, taskset, a
  // container's CPUs), not all the machine has: two workers on one core
  // only preempt each other and the backends' threads.
  auto threads = server.scheduler_threads > 0 ? server.scheduler_threads
                                              : frontend::usable_cores();
  sys_cfg.set("scheduler.max-threads", static_cast<size_t>(threads));
  sys_cfg.set("work-stealing.aggressive-poll-attempts",
              size_t{defaults::scheduler_aggressive_poll_attempts});
  sys_cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  frontend::use_cq_scheduler(sys_cfg);
}

const char* signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/// Waits until no call is in flight or `timeout` passes; true when a second
/// stop signal cut it short.
bool drain(frontend::grpc_server& grpc, const sigset_t& signals,
           std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  constexpr auto poll_interval = std::chrono::milliseconds(20);
  while (grpc.in_flight() > 0) {
    auto left = deadline - clock::now();
    if (left <= clock::duration::zero())
      return false;
    auto wait = std::min<clock::duration>(left, poll_interval);
    auto s = std::chrono::duration_cast<std::chrono::seconds>(wait);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait - s);
    timespec ts{static_cast<time_t>(s.count()), static_cast<long>(ns.count())};
    int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGHUP) {
      spdlog::warn("received SIGHUP while draining: not reloading the config");
      continue;
    }
    if (sig > 0) {
      spdlog::warn("received {} while draining: stopping now",
                   signal_name(sig));
      return true;
    }
  }
  return false;
}

/// Waits for SIGINT or SIGTERM and returns it; runs `reload` on each
/// SIGHUP meanwhile.
int wait_for_stop_signal(const sigset_t& signals,
                         const std::function<void()>& reload) {
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP)
      return sig;
    reload();
  }
}

void apply_overrides(const serve_options& opts, config::gateway_config& cfg) {
  std::string host;
  uint16_t port = 0;
  if (!opts.listen.empty()) {
    if (!config::split_host_port(opts.listen, host, port))
      throw CLI::ValidationError("--listen",
                                 "\"" + opts.listen + "\" is not HOST:PORT");
    cfg.server.listen = opts.listen;
  }
  if (!opts.admin.empty()) {
    if (!config::split_host_port(opts.admin, host, port))
      throw CLI::ValidationError("--admin",
                                 "\"" + opts.admin + "\" is not HOST:PORT");
    cfg.server.admin = opts.admin;
  }
}

/// Reads the config file again and applies what may change while the
/// gateway runs; one reload at a time (SIGHUP and the admin listener may
/// ask at once). The file gets the same command-line overrides as at start.
class config_reloader {
public:
  config_reloader(const serve_options& opts, gateway& gw,
                  frontend::authenticator& auth)
    : opts_(opts), gw_(gw), auth_(auth) {}

  admin::reload_outcome operator()() {
    std::lock_guard<std::mutex> guard{mutex_};
    admin::reload_outcome out;
    auto loaded = config::load_file(opts_.config_path);
    if (!loaded.ok()) {
      for (auto& p : loaded.problems)
        out.problems.push_back(config::format(p));
      spdlog::error("config reload refused: {} has {} problem(s), the old "
                    "config keeps serving:\n  {}",
                    opts_.config_path, out.problems.size(),
                    fmt::join(out.problems, "\n  "));
      return out;
    }
    auto next = std::move(*loaded.config);
    apply_overrides(opts_, next);
    out.summary = config::summary(next);
    out.problems = gw_.reload(next);
    if (!out.problems.empty()) {
      spdlog::error("config reload refused, the old config keeps serving:"
                    "\n  {}",
                    fmt::join(out.problems, "\n  "));
      return out;
    }
    // After the stages: a principal added with its rules is never refused
    // for want of them, and a revoked one's rules are already gone.
    auth_.update(next.auth);
    out.applied = true;
    spdlog::info("config reloaded from {}: {}", opts_.config_path, out.summary);
    return out;
  }

private:
  const serve_options& opts_;
  gateway& gw_;
  frontend::authenticator& auth_;
  std::mutex mutex_;
};

int serve(const serve_options& opts) {
  logging::format fmt;
  logging::parse_format(opts.log_format, fmt);
  logging::setup(fmt, opts.log_level);

  auto loaded = config::load_file(opts.config_path);
  if (!loaded.ok()) {
    // As `prism check` prints them; in the JSON log format, as log lines.
    for (auto& p : loaded.problems) {
      if (fmt == logging::format::json)
        spdlog::error("{}", config::format(p));
      else
        std::cerr << config::format(p) << '\n';
    }
    spdlog::error("refusing to start: {} has {} problem(s); `prism check {}` "
                  "lists them",
                  opts.config_path, loaded.problems.size(), opts.config_path);
    return 1;
  }
  auto cfg = std::move(*loaded.config);
  apply_overrides(opts, cfg);

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  caf::actor_system_config sys_cfg;
  configure_scheduler(cfg.server, sys_cfg);
  // Declared before the actor system so it outlives every actor.
  inspector actors;
  caf::actor_system sys{sys_cfg};

  std::unique_ptr<gateway> gw;
  std::unique_ptr<frontend::grpc_server> grpc;
  std::unique_ptr<admin::admin_server> admin;
  std::atomic<bool> ready{false};
  std::shared_ptr<frontend::authenticator> auth;
  std::unique_ptr<config_reloader> reloader;
  try {
    auto audit = make_file_audit_sink(file_audit_options{cfg.audit.path});
    gw = std::make_unique<gateway>(
      sys, cfg, drivers::make_real_driver_factory(drivers::system_wall_clock()),
      audit, &actors);
    if (!gw->wait_started(
          std::chrono::milliseconds(defaults::actors_start_timeout_ms)))
      throw std::runtime_error(
        "the gateway's actors did not start within "
        + whole_seconds(defaults::actors_start_timeout_ms) + " s");
    gw->on_root_failure([](const std::string&) {
      // The tree is gone: stop the process (through the drain path, which
      // answers what is left); the exit code says it failed.
      root_failure.store(true);
      ::kill(::getpid(), SIGTERM);
    });
    auth = std::make_shared<frontend::authenticator>(cfg.auth);
    if (!auth->enabled() && !loopback_listen(cfg.server.listen))
      spdlog::warn("AUTHENTICATION IS OFF on {}, which is not a loopback "
                   "address: anyone who reaches it may read and write every "
                   "namespace. Set auth: {{mode: token, ...}} (see "
                   "docs/CONFIG.md)",
                   cfg.server.listen);
    if (cfg.auth.mode == config::auth_mode::token && !cfg.server.tls.enabled()
        && !loopback_listen(cfg.server.listen))
      spdlog::warn("tokens travel in clear text on {}: anyone on the path "
                   "can read and reuse them. Set server.tls (see "
                   "docs/CONFIG.md)",
                   cfg.server.listen);
    grpc = std::make_unique<frontend::grpc_server>(
      cfg.server.listen,
      frontend::listener_credentials(cfg.server.tls, cfg.auth.mode),
      cfg.max_request_bytes(), cfg.server.max_concurrent_streams(),
      cfg.server.scheduler_pollers, sys, gw->sessions(), auth);
    admin::admin_hooks hooks;
    gw->metrics().add_collector([&grpc] {
      return metric_report{{"prism_requests_in_flight",
                            "Requests the gRPC front end has started and not "
                            "yet answered.",
                            metric_type::gauge,
                            {{{}, static_cast<double>(grpc->in_flight())}}}};
    });
    hooks.metrics = [&gw] {
      return gw->metrics().render();
    };
    hooks.ready = [&ready] {
      return ready.load();
    };
    if (auth->enabled())
      hooks.admin_allowed = [auth](const std::string& authorization) {
        return auth->admin(authorization);
      };
    hooks.actors = &actors;
    hooks.system = &sys;
    hooks.slow = &gw->slow_calls();
    reloader = std::make_unique<config_reloader>(opts, *gw, *auth);
    hooks.reload = [&reloader] {
      return (*reloader)();
    };
    admin::wire_debug_hooks(
      hooks, *gw,
      {opts.config_path,
       cfg.server.listen.substr(0, cfg.server.listen.rfind(':') + 1)
         + std::to_string(grpc->port()),
       [&admin, configured = cfg.server.admin] {
         if (!admin)
           return configured;
         return configured.substr(0, configured.rfind(':') + 1)
           + std::to_string(admin->port());
       },
       [&grpc] {
         return static_cast<uint64_t>(std::max<int64_t>(grpc->in_flight(), 0));
       }});
    admin = std::make_unique<admin::admin_server>(cfg.server.admin,
                                                  std::move(hooks));
  } catch (const std::exception& e) {
    spdlog::error("cannot start: {}", e.what());
    if (gw)
      gw->stop();
    return 1;
  }
  auto grpc_host = cfg.server.listen.substr(0, cfg.server.listen.rfind(':'));
  auto admin_host = cfg.server.admin.substr(0, cfg.server.admin.rfind(':'));
  spdlog::info("prism serving KeyValue (gRPC) on {}:{} with {}", grpc_host,
               grpc->port(), config::summary(cfg));
  spdlog::info("admin endpoints on http://{}:{}/ (healthz, readyz, metrics, "
               "debug/actors)",
               admin_host, admin->port());
  // Stopping the actors answers every call they still hold UNAVAILABLE;
  // gRPC then gets a moment to send those answers.
  auto stop_serving = [&] {
    gw->stop();
    grpc->shutdown(std::chrono::milliseconds(defaults::grpc_shutdown_grace_ms));
    admin->stop();
  };
  ready = true;
  if (!opts.ready_file.empty()) {
    try {
      write_ready_file(opts.ready_file, grpc->port(), admin->port());
    } catch (const std::exception& e) {
      // Checked when the flag was parsed; this is a directory that went
      // away or a full disk since. Whoever waits for the file would wait
      // forever: stop instead.
      spdlog::error("cannot write the ready file: {}; stopping", e.what());
      ready = false;
      stop_serving();
      return 1;
    }
  }

  int sig = wait_for_stop_signal(signals, [&reloader] { (*reloader)(); });
  auto drain_ms = opts.drain_timeout_ms.value_or(cfg.server.drain_timeout_ms);
  spdlog::info("{}: draining; new requests get UNAVAILABLE, {} in "
               "flight may finish within {} ms (send the signal again to stop "
               "at once)",
               root_failure.load()
                 ? std::string{"the gateway's root supervisor failed"}
                 : "received " + std::string{signal_name(sig)},
               grpc->in_flight(), drain_ms);
  ready = false;
  grpc->begin_drain();
  bool forced = drain(*grpc, signals, std::chrono::milliseconds(drain_ms));
  if (auto left = grpc->in_flight(); left > 0)
    spdlog::warn("{} requests still in flight {}; answering them UNAVAILABLE",
                 left,
                 forced ? "at the second signal" : "after the drain timeout");
  stop_serving();
  spdlog::info("stopped{}", forced ? " (forced)" : "");
  if (root_failure.load()) {
    spdlog::error("stopped because the gateway's root supervisor failed");
    return 1;
  }
  return forced ? 1 : 0;
}

} // namespace

void add_serve_command(CLI::App& app) {
  auto opts = std::make_shared<serve_options>();
  auto* cmd = app.add_subcommand(
    "serve", "Run the gateway in the foreground until SIGINT or SIGTERM");
  cmd
    ->add_option("-c,--config", opts->config_path,
                 "YAML config file (see docs/CONFIG.md)")
    ->capture_default_str();
  cmd->add_option("--listen", opts->listen,
                  "gRPC listen address HOST:PORT, overrides server.listen "
                  "(default "
                    + std::string{defaults::grpc_listen}
                    + "; port 0 picks a free port)");
  cmd->add_option("--admin", opts->admin,
                  "admin HTTP address HOST:PORT, overrides server.admin "
                  "(default "
                    + std::string{defaults::admin_listen}
                    + "; port 0 picks a free port)");
  cmd
    ->add_option("--log-format", opts->log_format,
                 "log format on stderr: text or json")
    ->check(CLI::IsMember({"text", "json"}))
    ->capture_default_str();
  cmd
    ->add_option("--log-level", opts->log_level,
                 "trace, debug, info, warn, error or off")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
    ->capture_default_str();
  cmd
    ->add_option("--ready-file", opts->ready_file,
                 "once listening, write {\"grpc_port\",\"admin_port\",\"pid\"} "
                 "as JSON to this file")
    ->check([](const std::string& path) -> std::string {
      namespace fs = std::filesystem;
      std::error_code ec;
      if (path.empty())
        return "the path is empty";
      if (fs::is_directory(path, ec))
        return "\"" + path + "\" is a directory; name a file in it";
      auto dir = fs::path(path).parent_path();
      if (!dir.empty() && !fs::is_directory(dir, ec))
        return "the directory \"" + dir.string() + "\" does not exist";
      return {};
    });
  cmd
    ->add_option_function<std::string>(
      "--drain-timeout",
      [opts](const std::string& text) {
        uint32_t ms = 0;
        if (!parse_duration_ms(text, ms))
          throw CLI::ValidationError(
            "--drain-timeout",
            "\"" + text
              + "\" is not a duration of at most 1 hour "
                "(e.g. 30s, 1500ms, 2m)");
        opts->drain_timeout_ms = ms;
      },
      "on SIGTERM/SIGINT, how long requests in flight may take to finish "
      "before they are answered UNAVAILABLE, e.g. 30s or 1500ms; overrides "
      "server.drain_timeout_ms (default "
        + whole_seconds(defaults::drain_timeout_ms)
        + "s). A second signal stops at once")
    ->type_name("DURATION");
  cmd->callback([opts] {
    int rc = serve(*opts);
    if (rc != 0)
      throw CLI::RuntimeError(rc);
  });
}

} // namespace prism::cli
