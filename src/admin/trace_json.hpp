#pragma once

// Taps and follows as JSON, for the admin listener's /debug/trace and
// /debug/follow endpoints. Like actor_json.hpp: every answer is an object
// with "generated_at_ms" (wall-clock milliseconds, as passed in); times on
// the actor clock become wall-clock "_at_ms" against `now`, the actor
// clock's time of the answer. docs/ADMIN.md lists the fields.

#include <cstdint>

#include <caf/actor_clock.hpp>
#include <nlohmann/json_fwd.hpp>

#include "runtime/slow_log.hpp"
#include "runtime/tap.hpp"

namespace prism {

class inspector;

/// {"generated_at_ms", "tap", "target", "actors", "max", "for_ms",
/// "state": "running"|"stopped", "stopped_by": null or why, "events":
/// [{"seq", "at_ms", "actor", "label", "message", "handler_us"}],
/// "dropped", "last_seq"}.
nlohmann::json to_json(const tap_view& tap, caf::actor_clock::time_point now,
                       int64_t generated_at_ms);

/// {"generated_at_ms", "request_id", "state": "done", "source": "follow" or
/// "slowlog", "call": the slow log entry, "events": [{"at_ms", "offset_us",
/// "us", "actor", "label", "what"}]}: each hop where it began (an actor's
/// label from `actors` when the entry has none and the actor still lives),
/// then the session's answer.
nlohmann::json to_json_followed(const slow_entry& call, const char* source,
                                const inspector* actors,
                                caf::actor_clock::time_point now,
                                int64_t generated_at_ms);

} // namespace prism
