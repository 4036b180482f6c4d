#pragma once

// `prism bench`: drives load against a KeyValue server and reports throughput
// and latency (see src/loadgen/load.hpp and bench/README.md).

#include <CLI/CLI.hpp>

namespace prism::cli {

/// Registers the `bench` subcommand on `app`. Its callback runs the benchmark
/// and prints the report; it returns normally on success and throws
/// CLI::RuntimeError(1) when the run failed or saw failed calls, and
/// CLI::RuntimeError(2) for bad option values, having printed why to stderr.
void add_bench_command(CLI::App& app);

} // namespace prism::cli

// Callable unqualified too.
using prism::cli::add_bench_command;
