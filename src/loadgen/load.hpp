#pragma once

// A load generator for the prism.v1.KeyValue API: keeps a fixed number of
// calls outstanding against one server for a fixed time and measures each
// call's latency. `prism bench` drives it, and through it the benchmark
// scripts (scripts/bench*).
//
// It uses gRPC's callback client API. In the closed loop (the default) every
// outstanding call ("slot") issues its next call from the completion of the
// previous one, so there are no client threads to tune. In the open loop
// (options::rate > 0) one scheduler thread per channel issues calls on a
// fixed timetable whatever the answers, so a server that slows down or
// refuses meets the same offered load. Before measuring reads it writes the
// whole keyspace, so every Get finds its key. Calls that fail are counted by
// status code and reported, never dropped.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/defaults.hpp"

namespace prism::loadgen {

enum class rpc_kind {
  get, ///< only Get
  set, ///< only Set
  mixed, ///< Set with probability set_ratio, Get otherwise
};

/// "get", "set" or "mixed"; nullopt for anything else.
std::optional<rpc_kind> parse_rpc_kind(const std::string& text);
const char* to_string(rpc_kind kind) noexcept;

struct options {
  /// host:port of the server.
  std::string target = defaults::grpc_listen;
  rpc_kind rpc = rpc_kind::get;
  /// Share of Sets in a mixed run, 0..1.
  double set_ratio = 0.1;
  std::string ns = "bench";
  /// Calls outstanding at once, in total over all channels (closed loop; in
  /// the open loop only the preload's parallelism).
  uint32_t concurrency = 1;
  /// Separate TCP connections; the calls are split evenly across them.
  uint32_t channels = 1;
  /// Measured time, after the warmup.
  double duration_s = 5.0;
  /// Time under load before measuring starts; calls finishing then are not counted.
  double warmup_s = 1.0;
  /// Size of every value written.
  uint32_t value_bytes = defaults::bench_value_bytes;
  /// Size of the keyspace: keys are "bench-0" .. "bench-<keys-1>".
  uint32_t keys = defaults::bench_keys;
  /// Open loop: calls per second in total over all channels, issued on a
  /// fixed timetable whatever the answers. 0: the closed loop (`concurrency`
  /// calls outstanding).
  double rate = 0;
  /// Open loop: most calls outstanding at once; a call due while this many
  /// are outstanding is not sent and counted as `client_dropped`.
  uint32_t max_outstanding = defaults::bench_max_outstanding;
};

/// Limits `validate` enforces.
inline constexpr uint32_t concurrency_max = 10000;
inline constexpr uint32_t channels_max = 256;
/// The gateway's default value limit.
inline constexpr uint32_t value_bytes_max
  = static_cast<uint32_t>(defaults::value_bytes_max);
inline constexpr uint32_t keys_max = 10'000'000;
inline constexpr double duration_max_s = 3600.0;
inline constexpr double rate_max = 1'000'000.0;
inline constexpr uint32_t max_outstanding_max = 1'000'000;

/// An empty string when the options are usable, else what is wrong with them
/// (naming the command-line flag, e.g. "--channels: ...").
std::string validate(const options& opt);

struct report {
  /// Calls completed with status OK inside the measured window (open loop:
  /// calls due inside the window that completed OK, whenever they did).
  uint64_t requests = 0;
  /// Calls completed with another status inside the window, by gRPC status
  /// name (e.g. "UNAVAILABLE"); open loop: of the calls due in the window.
  std::map<std::string, uint64_t> errors;
  /// Calls that failed during the warmup (not part of `errors`); open loop:
  /// only failures other than RESOURCE_EXHAUSTED.
  uint64_t warmup_errors = 0;
  /// The first failure seen, code and message, for diagnosis.
  std::string first_error;
  /// Gets that answered found=false although the keyspace was written first.
  uint64_t misses = 0;
  /// Length of the measured window.
  double seconds = 0;
  /// requests / seconds.
  double rps = 0;
  /// Latency of the successful calls, in microseconds.
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;

  // --- open loop only (options::rate > 0) ----------------------------------
  // The window holds the calls *due* in it; each is sent (and answered,
  // however late), dropped by the client, or not reached:
  //   offered = sent + client_dropped, sent = requests + errors.

  bool open_loop = false;
  /// options::rate.
  double target_rps = 0;
  /// Calls due in the window that the scheduler reached.
  uint64_t offered = 0;
  /// offered / seconds: the load actually offered.
  double offered_rps = 0;
  /// Calls handed to gRPC.
  uint64_t sent = 0;
  /// Calls not sent because max_outstanding calls were in flight.
  uint64_t client_dropped = 0;
  /// Calls due in the window that the scheduler had not reached when the
  /// window ended: the client could not keep up (not part of `offered`).
  uint64_t client_behind = 0;
  /// errors["RESOURCE_EXHAUSTED"]: calls the server refused as overloaded.
  uint64_t rejected = 0;
  /// rejected / seconds.
  double rejected_rps = 0;
  /// Refusals that carried the x-prism-retry-after-ms trailer.
  uint64_t retry_hints = 0;
  /// Latency of the RESOURCE_EXHAUSTED answers, in microseconds.
  double rejected_p50_us = 0;
  double rejected_p99_us = 0;
  double rejected_max_us = 0;
  /// How long after its due time each call was sent, in microseconds: the
  /// client's own lag (latencies above are measured from the send).
  double send_lag_p50_us = 0;
  double send_lag_p99_us = 0;
  double send_lag_max_us = 0;

  /// Failed calls in the window and in the warmup.
  uint64_t error_count() const;
  /// Failed calls in the window other than RESOURCE_EXHAUSTED, plus
  /// warmup_errors.
  uint64_t other_error_count() const;
};

/// Preloads the keyspace (unless the run writes only), warms up, measures.
/// Throws std::runtime_error when it cannot run at all: invalid options, the
/// target cannot be reached, or preloading fails.
report run(const options& opt);

/// Log-linear latency histogram over nanoseconds: exact below 128 ns, then 128
/// buckets per power of two (relative error under 0.4 %), up to about 18
/// minutes; larger values land in the last bucket. Not thread-safe: keep one
/// per thread of recording and merge.
class histogram {
public:
  histogram();
  void record(uint64_t ns) noexcept;
  void merge(const histogram& other) noexcept;
  uint64_t count() const noexcept { return count_; }
  uint64_t max() const noexcept { return max_; }
  /// The value below which a share q (0..1) of the recordings lie, in ns;
  /// 0 when empty.
  uint64_t quantile(double q) const noexcept;

private:
  static constexpr int sub_bits = 7;
  static constexpr int top_bit = 40;
  static std::size_t index_of(uint64_t ns) noexcept;
  static uint64_t value_of(std::size_t index) noexcept;

  uint64_t count_ = 0;
  uint64_t max_ = 0;
  std::vector<uint64_t> buckets_;
};

} // namespace prism::loadgen
