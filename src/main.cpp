// prism: the gateway binary. Each job is a subcommand; see `prism --help`.

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/bench_command.hpp"
#include "cli/commands.hpp"
#include "frontend/grpc_tuning.hpp"

namespace {

/// When a command needs a subcommand and got a word it does not know
/// ("prism foo", "prism kv frob"), names the word and the choices; CLI11
/// only says that a subcommand is required. False when that is not it.
bool explain_unknown_subcommand(const CLI::App& app) {
  const CLI::App* deepest = &app;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const auto* sub : deepest->get_subcommands())
      if (sub->parsed()) {
        deepest = sub;
        deeper = true;
        break;
      }
  }
  auto left = deepest->remaining();
  if (left.empty() || left.front().empty() || left.front()[0] == '-')
    return false;
  std::string choices;
  for (const auto* sub : deepest->get_subcommands({}))
    choices += (choices.empty() ? "" : ", ") + sub->get_name();
  if (choices.empty())
    return false;
  std::string path = deepest->get_name();
  for (const auto* up = deepest->get_parent(); up != nullptr;
       up = up->get_parent())
    path = up->get_name() + " " + path;
  std::cerr << "unknown command \"" << left.front() << "\" for `" << path
            << "`; use one of: " << choices
            << "\nRun with --help for more information.\n";
  return true;
}

} // namespace

int main(int argc, char** argv) {
  prism::frontend::tune_grpc_runtime();
  CLI::App app{"Prism: one gRPC API (KeyValue, PubSub) served from the "
               "backend each namespace's config names (memory, SQLite, "
               "PostgreSQL, Kafka, NATS), through an actor pipeline.",
               "prism"};
  app.require_subcommand(1);
  prism::cli::add_serve_command(app);
  prism::cli::add_check_command(app);
  prism::cli::add_kv_command(app);
  prism::cli::add_pubsub_command(app);
  prism::cli::add_simulate_command(app);
  prism::cli::add_console_command(app);
  add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    // A command's own outcome (prism kv: 1 failed, 3 not found).
    return e.get_exit_code();
  } catch (const CLI::RequiredError& e) {
    if (explain_unknown_subcommand(app))
      return 2;
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const CLI::ParseError& e) {
    // CLI11 numbers its errors (105 for a bad value, ...); a usage error is
    // 2 everywhere, as in `prism bench`. Help and version are 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return 0;
}
