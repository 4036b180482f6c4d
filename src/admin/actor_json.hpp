#pragma once

// The inspector's records as JSON, for the admin listener's /debug
// endpoints and the console. All three renderers return a top-level object
// with "generated_at_ms" (wall-clock milliseconds since the Unix epoch, as
// passed in). Field names are fixed; docs/ADMIN.md lists them.

#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/actor_record.hpp"
#include "runtime/slow_log.hpp"

namespace prism {

/// {"generated_at_ms", "count", "actors": [actor...]} ordered by id.
nlohmann::json to_json_list(const std::vector<actor_info>& actors,
                            int64_t generated_at_ms);

/// {"generated_at_ms", "count", "actors": [root...]}: each node is an actor
/// with "children": [node...]. Roots are actors with parent 0 and actors
/// whose parent is not registered (their "parent" still names it).
nlohmann::json to_json_tree(const std::vector<actor_info>& actors,
                            int64_t generated_at_ms);

/// {"generated_at_ms", "actor": actor with "children": [id...]}, or nullopt
/// when `id` is not in `actors`.
std::optional<nlohmann::json> to_json_one(const std::vector<actor_info>& actors,
                                          uint64_t id, int64_t generated_at_ms);

/// One actor as a JSON object (the element of every list above).
nlohmann::json to_json(const actor_info& actor, int64_t generated_at_ms);

/// {"generated_at_ms", "threshold_ms", "capacity", "recorded", "count",
/// "entries": [entry...]} newest first; `now` is the actor clock's time of
/// the snapshot (an entry's age is measured against it).
nlohmann::json to_json(const slow_log& log, caf::actor_clock::time_point now,
                       int64_t generated_at_ms);

/// One slow log entry (an element of the list above): "id", "request_id",
/// "namespace", "operation", "principal", "peer", "code", "total_us",
/// "at_ms", "ago_ms", "hops": [{"name", "us"}], "hops_dropped".
nlohmann::json to_json(const slow_entry& entry,
                       caf::actor_clock::time_point now,
                       int64_t generated_at_ms);

} // namespace prism
