#pragma once

namespace CLI {
class App;
}

namespace prism::cli {

/// `prism serve`: runs the gateway in the foreground.
void add_serve_command(CLI::App& app);

/// `prism check FILE`: validates a config file.
void add_check_command(CLI::App& app);

/// `prism kv ...`: a KeyValue client.
void add_kv_command(CLI::App& app);

/// `prism pubsub ...`: a PubSub client.
void add_pubsub_command(CLI::App& app);

/// `prism simulate ...`: fault-injection scenarios in virtual time.
void add_simulate_command(CLI::App& app);

/// `prism console`: the debug console on a gateway or a recorded run.
void add_console_command(CLI::App& app);

} // namespace prism::cli
