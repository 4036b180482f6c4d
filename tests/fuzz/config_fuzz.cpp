// Fuzzes loading a config from YAML text, as `prism check` and a reload do,
// and the reload's comparison of what loads with a running config. Any text
// must give either a config or problems, never a crash, an exception, a
// hang or a leak.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "config/config.hpp"
#include "config/reload.hpp"
#include "fuzz_check.hpp"

namespace {

namespace config = prism::config;

/// What a running gateway started from this config has: a pool for each
/// backend of a keyvalue namespace, a broker for each of a pubsub one.
struct running_parts {
  std::set<std::string> pools;
  std::set<std::string> brokers;
};

running_parts parts_of(const config::gateway_config& cfg) {
  running_parts out;
  for (const auto& [name, ns] : cfg.namespaces)
    (ns.pattern == config::pattern::keyvalue ? out.pools : out.brokers)
      .insert(ns.backend);
  return out;
}

/// The config the reload comparison starts from: one of each pattern.
const config::gateway_config& running_config() {
  static const config::gateway_config cfg = [] {
    auto result = config::parse(R"(server:
  listen: 127.0.0.1:8980
  admin: 127.0.0.1:8981
backends:
  mem: {type: memory}
  bus: {type: memory}
namespaces:
  cache: {backend: mem, max_value_bytes: 65536}
  events: {backend: bus, pattern: pubsub}
)",
                                "running.yaml");
    FUZZ_CHECK(result.ok());
    return *result.config;
  }();
  return cfg;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto result = config::parse(text, "fuzz.yaml");
  // A config comes with no problems; problems come without a config.
  FUZZ_CHECK(result.config.has_value() == result.problems.empty());
  for (const auto& p : result.problems) {
    FUZZ_CHECK(!p.message.empty());
    FUZZ_CHECK(p.where.file == "fuzz.yaml");
    FUZZ_CHECK(p.where.line >= 0 && p.where.column >= 0);
    FUZZ_CHECK(!config::format(p).empty());
  }
  if (!result.config)
    return 0;
  const auto& cfg = *result.config;
  FUZZ_CHECK(!cfg.namespaces.empty() && !cfg.backends.empty());
  FUZZ_CHECK(!config::summary(cfg).empty());
  // Every namespace names a backend the config defines.
  for (const auto& [name, ns] : cfg.namespaces)
    FUZZ_CHECK(cfg.backends.count(ns.backend) == 1);

  // Reloading the same config changes nothing that needs a restart.
  const auto parts = parts_of(cfg);
  FUZZ_CHECK(config::restart_needed(cfg, cfg, parts.pools, parts.brokers,
                                    cfg.max_request_bytes())
               .empty());
  // Reloads between it and another config, both ways: any answer will do.
  const auto& running = running_config();
  const auto running_parts = parts_of(running);
  config::restart_needed(running, cfg, running_parts.pools,
                         running_parts.brokers);
  config::restart_needed(cfg, running, parts.pools, parts.brokers);
  return 0;
}
