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
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
