#pragma once

// The NATS client of a pubsub backend (`type: nats`), on nats.c; see
// pubsub_driver.hpp for the contract and nats_names.hpp for the names it
// uses on the server.
//
// Connection. One natsConnection per driver. start() connects on a driver
// thread (connect_timeout_ms per attempt); the first attempt's outcome is the
// listener's first report. From then on nats.c reconnects forever, every
// reconnect_wait_ms (plus jitter), also when the first attempt failed, so the
// gateway can start while NATS is down. Disconnected/closed -> down with the
// reason, connected/reconnected -> up. The token comes from the environment
// variable named by token_env when the driver is made; it is never part of a
// message or of describe().
//
// JetStream (`jetstream: true`): at-least-once, in order per subject.
// - On a namespace's first use the driver makes sure its stream exists
//   (file storage, subjects "<prefix>.<ns>.>"), creating it when missing and
//   never changing an existing one.
// - Publish is an asynchronous JetStream publish; OK once the stream stored
//   it, with message_id "<stream>-<sequence>". Not connected: UNAVAILABLE at
//   once, not stored. No acknowledgment (connection lost, time out after
//   publish_ack_wait_max_ms): UNAVAILABLE "may or may not have been stored".
//   The client's deadline passed first: DEADLINE_EXCEEDED (likewise maybe).
// - A named subscription is a durable pull consumer on the topic's subject,
//   made explicitly (deliver policy from the first subscriber's start:
//   LATEST -> new, EARLIEST -> all; an existing one keeps its position and
//   settings), ack explicit, ack wait ack_wait_ms. Each member fetches at most
//   its credit, so members of one name share the messages: what is there at
//   once, else a long poll (fetch_wait_ms, with server heartbeats, so a
//   deleted consumer is noticed and ends the subscription). A member keeps
//   every message it delivered until ack(tag); while it holds one, it tells
//   the server it is in progress (every third of the ack wait), so a slow
//   client does not get it redelivered elsewhere. Destroying a member stops
//   its callbacks at once; its thread then lets its outstanding pull
//   request run out (at most fetch_wait_ms: nats-server 2.9 mishandles a
//   redelivery that meets only requests nobody listens to), acks what was
//   acknowledged, gives the rest back (NAK) for immediate redelivery, and
//   unsubscribes. About once a second a member reads
//   its consumer's info and reports pending + unacknowledged as its lag.
//   A gateway that dies holding messages: they come back after
//   the ack wait. Redelivered messages can come after newer ones.
// - An ephemeral subscription is an ordered JetStream consumer (deliver new
//   for LATEST, all for EARLIEST; no acks, memory state; nats.c recreates it
//   where it left off after a NATS restart; the server removes it a few
//   seconds after the subscriber goes), so it sees exactly what was stored,
//   with the "<stream>-<sequence>" ids Publish answered.
// - The connection lost, publishes waiting for their acknowledgment are
//   answered UNAVAILABLE ("may or may not have been stored") at once.
//
// Core NATS (`jetstream: false`): at-most-once.
// - Publish: OK once the message is written to the connection and a flush
//   round trip confirmed the server has it (publishes waiting together share
//   one flush); it went to the subscribers the server had then. Not
//   connected: UNAVAILABLE at once. message_id "<driver start ms>-<counter>",
//   publish time the wall clock's; both travel as headers. (A publish the
//   server refuses for permissions is still OK: NATS does not answer it.)
// - A named subscription is a queue subscription (group = subscription
//   name): each message goes to one member; no position is kept, credit is
//   ignored and ack does nothing. A member that falls behind by more than
//   nats.c's pending limits (65536 messages or 64 MiB) drops messages (slow
//   consumer); they are counted (slow_consumer_drops()).
// - An ephemeral subscription is a plain subscription (EARLIEST is LATEST:
//   core NATS keeps nothing).
//
// Threads: a control thread (connecting, setting up push subscriptions), a
// publisher thread, one thread per JetStream named member (it sets up the
// consumer, fetches and acks), plus nats.c's own. publish(), subscribe(),
// request() and ack() only enqueue. A publish is refused at once, on the
// caller's thread, with RESOURCE_EXHAUSTED when max_pending publishes are
// already queued or waiting for JetStream; every other outcome comes from a
// driver thread. A subscription whose setup keeps failing while NATS is
// connected (e.g. JetStream not answering) ends UNAVAILABLE after
// unavailable_after_ms; while NATS is down it waits (the broker decides,
// from the state listener, when an outage has lasted too long). The
// driver's destructor stops the threads (waiting up to about fetch_wait_ms
// for JetStream members, and for a connect attempt in progress), answers
// what is still pending UNAVAILABLE, flushes and closes the connection.

#include <cstdint>
#include <memory>

#include "drivers/pubsub_driver.hpp"

namespace prism::drivers {

/// Throws std::runtime_error for a config the client library refuses (or a
/// token_env variable that is not set).
pubsub_driver_ptr make_nats_driver(const config::backend& backend,
                                   std::shared_ptr<wall_clock> clock);

/// Settings the driver fixes (not in the config schema), named so the docs
/// and tests can refer to them.
namespace nats_tuning {
inline constexpr int64_t reconnect_wait_ms = 500;
inline constexpr int64_t reconnect_jitter_ms = 100;
/// PINGs detect a dead server that closed nothing: after
/// ping_interval_ms * max_pings_out without an answer.
inline constexpr int64_t ping_interval_ms = 5000;
inline constexpr int max_pings_out = 3;
/// How long one JetStream API request (stream or consumer lookup/creation)
/// may take.
inline constexpr int64_t api_wait_ms = 5000;
/// Ack wait of the durable consumers the driver creates.
inline constexpr int64_t ack_wait_ms = 10000;
/// The longest a publish waits for JetStream's acknowledgment when the
/// client set no earlier deadline.
inline constexpr int64_t publish_ack_wait_max_ms = 10000;
/// How long one pull request waits at the server for messages (an idle
/// member asks again this often; acks queued meanwhile wait for it).
inline constexpr int64_t fetch_wait_ms = 1000;
/// Heartbeats the server sends while a pull request waits; two missed ones
/// make the member check its consumer still exists.
inline constexpr int64_t fetch_heartbeat_ms = 250;
/// The most messages one pull request asks for.
inline constexpr int fetch_batch_max = 256;
/// Retry delays of a setup or fetch that failed.
inline constexpr int64_t retry_min_ms = 100;
inline constexpr int64_t retry_max_ms = 2000;
/// How long a member waits for its consumer's info when it measures its lag
/// (skipped when it takes longer).
inline constexpr int64_t lag_query_wait_ms = 1000;
} // namespace nats_tuning

/// Messages core NATS subscriptions of this driver dropped because their
/// member fell behind (0 for a driver of another kind).
uint64_t slow_consumer_drops(const pubsub_driver& driver);

} // namespace prism::drivers
