#pragma once

// What every gRPC handler of the gateway does with a call's metadata before
// it becomes an actor message: the request id (the client's, or a new one,
// echoed in the initial metadata), the W3C traceparent, the peer, and the
// deadline moved onto the actor clock.

#include <map>
#include <string>
#include <string_view>

#include <caf/actor_system.hpp>
#include <grpc/support/time.h>
#include <grpcpp/server_context.h>

#include "runtime/call.hpp"

namespace prism::frontend {

inline constexpr std::string_view request_id_header = "x-request-id";
inline constexpr std::string_view traceparent_header = "traceparent";
inline constexpr std::string_view retry_after_header = "x-prism-retry-after-ms";

/// The metadata a client sent with a call, as gRPC hands it over.
using client_metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

/// Fills a request context for namespace `ns` from `ctx` and adds the
/// request id to the call's initial metadata.
request_context make_request_context(grpc::ServerContextBase& ctx,
                                     const std::string& ns,
                                     caf::actor_system& sys);

/// What make_request_context reads from the client's metadata: the request
/// id (the client's when it is 1..128 printable characters without spaces,
/// else a new one), the traceparent, and the namespace `ns` (its beginning
/// when it is too long to name one).
void read_client_metadata(const client_metadata& md, const std::string& ns,
                          request_context& rc);

/// The deadline gRPC holds for a call (`deadline`, on any of its clocks) on
/// the actor clock, whose time is `now`; none (max) when gRPC has none or
/// it is too far ahead for the clock; 200 years ago when it is further
/// behind.
caf::actor_clock::time_point call_deadline(gpr_timespec deadline,
                                           caf::actor_clock::time_point now);

/// The deadline `remaining` from `now` on the actor clock; none (max) when
/// that is past what the clock can hold (a client's "no deadline" sent as
/// the largest timeout it can express, some 292 years).
caf::actor_clock::time_point actor_deadline(caf::actor_clock::time_point now,
                                            caf::timespan remaining) noexcept;

/// The answer to a call that arrives while the gateway drains.
model::outcome shutting_down();

/// `st` as the gRPC status a call is finished with; a retry hint goes into
/// `ctx`'s trailing metadata (x-prism-retry-after-ms) first.
grpc::Status finish_status(grpc::ServerContextBase& ctx, status st);

} // namespace prism::frontend
