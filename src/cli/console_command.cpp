// `prism console`: the debug console on a running gateway's admin listener,
// or on a recorded simulation run (--trace DIR).

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "config/defaults.hpp"
#include "console/console.hpp"
#include "console/http_source.hpp"
#include "console/recorded_source.hpp"

namespace prism::cli {

namespace {

struct console_flags {
  std::string admin = defaults::admin_listen;
  std::string token;
  std::string command;
  bool json = false;
  std::string trace_dir;
};

constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

std::unique_ptr<console::source> open_source(const console_flags& flags,
                                             int& exit_code) {
  if (!flags.trace_dir.empty()) {
    std::string error;
    auto run = console::open_recorded_run(flags.trace_dir, error);
    if (!run) {
      std::cerr << "prism console: " << error << "\n";
      exit_code = exit_failed;
    }
    return run;
  }
  std::string host;
  uint16_t port = 0;
  std::string error;
  if (!console::parse_admin_address(flags.admin, host, port, error)) {
    std::cerr << "prism console: " << error << "\n";
    exit_code = exit_usage;
    return nullptr;
  }
  return std::make_unique<console::http_source>(host, port, flags.token);
}

} // namespace

void add_console_command(CLI::App& app) {
  auto flags = std::make_shared<console_flags>();
  auto* cmd = app.add_subcommand(
    "console",
    "The debug console: the actor tree, top, pools, namespaces, slow "
    "requests, traces and more, from a running gateway's admin listener "
    "(or a recorded simulation run), at a prompt or one command at a time "
    "(docs/CONSOLE.md)");
  auto* admin = cmd
                  ->add_option("--admin", flags->admin,
                               "The gateway's admin listener, HOST:PORT")
                  ->capture_default_str();
  cmd->add_option("--token", flags->token,
                  "An admin's token, sent as Authorization: Bearer with the "
                  "commands that change something (kill, slowlog reset, "
                  "log level) when auth is on");
  cmd->add_option("-c,--command", flags->command,
                  "Run this one command and exit: 0 done, 1 failed, 2 a "
                  "usage error (e.g. -c \"top --sort mailbox\")");
  cmd->add_flag("--json", flags->json,
                "Print the JSON of the endpoints a command reads instead of "
                "tables");
  cmd
    ->add_option("--trace", flags->trace_dir,
                 "Open a recorded simulation run (its directory) instead of "
                 "a live gateway: step, back, goto and mailbox walk through "
                 "it")
    ->excludes(admin);
  cmd->callback([flags] {
    int exit_code = 0;
    auto source = open_source(*flags, exit_code);
    if (!source)
      throw CLI::RuntimeError(exit_code);
    console::console_options options;
    options.command = flags->command;
    options.json = flags->json;
    int code = console::run_console(*source, options);
    if (code != 0)
      throw CLI::RuntimeError(code);
  });
}

} // namespace prism::cli
