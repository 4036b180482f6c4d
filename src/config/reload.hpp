#pragma once

// What a config reload may change while the gateway runs. Namespaces (new,
// removed, changed), their middleware, access rules, rate limits and
// redact_keys, and the auth tokens, groups and admins apply to the calls
// that arrive after the reload. The listeners, TLS, limits and scheduler of
// server:, the audit file, the auth mode and the backends' settings are
// built into the running gateway (sockets, threads, connections) and need a
// restart.

#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace prism::config {

/// Why `next` cannot replace `running` while the gateway runs: one sentence
/// per setting that only takes effect when the gateway starts. `pools` and
/// `brokers` name the backends that have a running connection pool (for
/// keyvalue namespaces) or topic broker (for pubsub namespaces): a
/// namespace on a backend without one needs a restart too.
/// `request_bytes_limit` is the largest request the listener was started
/// to take (max_request_bytes of the config it started with; 0: the
/// running config's): a max_value_bytes that needs more needs a restart.
/// Empty when the reload can be applied.
std::vector<std::string> restart_needed(const gateway_config& running,
                                        const gateway_config& next,
                                        const std::set<std::string>& pools,
                                        const std::set<std::string>& brokers,
                                        uint64_t request_bytes_limit = 0);

} // namespace prism::config
