// prism: the gateway binary. Each job is a subcommand; see `prism --help`.

#include <CLI/CLI.hpp>

#include "cli/bench_command.hpp"
#include "cli/commands.hpp"
#include "frontend/grpc_tuning.hpp"

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
  add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    // A command's own outcome (prism kv: 1 failed, 3 not found).
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    // CLI11 numbers its errors (105 for a bad value, ...); a usage error is
    // 2 everywhere, as in `prism bench`. Help and version are 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return 0;
}
