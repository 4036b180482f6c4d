#include "frontend/request_metadata.hpp"

#include <chrono>
#include <random>

#include <grpc/support/time.h>
#include <spdlog/spdlog.h>

#include "config/defaults.hpp"
#include "logging/throttle.hpp"

namespace prism::frontend {

namespace {

std::string generate_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(20, '0');
  auto a = rng();
  auto b = rng();
  for (size_t i = 0; i < 16; ++i)
    id[i] = hex[(a >> (4 * i)) & 15];
  for (size_t i = 16; i < id.size(); ++i)
    id[i] = hex[(b >> (4 * (i - 16))) & 15];
  return id;
}

/// A client-chosen id is used when it is 1..128 printable ASCII characters
/// without spaces, so it can go into logs and audit lines as is.
bool acceptable_request_id(grpc::string_ref id) {
  if (id.empty() || id.size() > defaults::request_id_bytes_max)
    return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7e)
      return false;
  return true;
}

std::string header(const client_metadata& md, std::string_view name) {
  auto i = md.find(grpc::string_ref(name.data(), name.size()));
  if (i == md.end())
    return {};
  return std::string(i->second.data(), i->second.size());
}

} // namespace

request_context make_request_context(grpc::ServerContextBase& ctx,
                                     const std::string& ns,
                                     caf::actor_system& sys) {
  request_context rc;
  read_client_metadata(ctx.client_metadata(), ns, rc);
  ctx.AddInitialMetadata(std::string(request_id_header), rc.request_id);
  rc.peer = ctx.peer();
  // gRPC's own deadline, not ctx.deadline(): that one is a system_clock
  // time point, which wraps around into the past for a timeout more than
  // some 292 years ahead (the largest a client can send is 99999999 hours).
  rc.deadline = call_deadline(ctx.raw_deadline(), sys.clock().now());
  return rc;
}

void read_client_metadata(const client_metadata& md, const std::string& ns,
                          request_context& rc) {
  auto id = header(md, request_id_header);
  if (acceptable_request_id(id)) {
    rc.request_id = std::move(id);
  } else {
    rc.request_id = generate_request_id();
    if (!id.empty()) {
      // Any client, authenticated or not, can send one with every call.
      static logging::log_throttle throttle{
        std::chrono::milliseconds{defaults::client_warning_interval_ms}};
      uint64_t held = 0;
      if (throttle.admit(logging::log_throttle::clock::now(), held))
        spdlog::warn("request_id={} replaces a client request id that is "
                     "not 1-{} printable characters ({} more such in the "
                     "minute before, at debug level)",
                     rc.request_id, defaults::request_id_bytes_max, held);
      else
        spdlog::debug("request_id={} replaces a client request id that is "
                      "not 1-{} printable characters",
                      rc.request_id, defaults::request_id_bytes_max);
    }
  }
  rc.traceparent = header(md, traceparent_header);
  // A name too long for any namespace is refused (validate_request); what
  // the logs and the audit line say of it is its beginning.
  if (ns.size() <= defaults::namespace_name_bytes_max)
    rc.ns = ns;
  else
    rc.ns = ns.substr(0, defaults::namespace_name_bytes_max) + "...";
}

caf::actor_clock::time_point call_deadline(gpr_timespec deadline,
                                           caf::actor_clock::time_point now) {
  if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0)
    return caf::actor_clock::time_point::max();
  const gpr_timespec left
    = gpr_time_sub(gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC),
                   gpr_now(GPR_CLOCK_MONOTONIC));
  // Past 200 years either way, the time span itself would not hold it: so
  // far ahead is no deadline, so far behind is as expired as 200 years ago
  // (and stays a time point that differences with now still hold).
  constexpr int64_t span_s_max = 200ll * 366 * 24 * 3600;
  if (left.tv_sec >= span_s_max)
    return caf::actor_clock::time_point::max();
  if (left.tv_sec <= -span_s_max)
    return actor_deadline(now, -std::chrono::seconds{span_s_max});
  return actor_deadline(now,
                        std::chrono::seconds{left.tv_sec}
                          + std::chrono::nanoseconds{left.tv_nsec});
}

caf::actor_clock::time_point actor_deadline(caf::actor_clock::time_point now,
                                            caf::timespan remaining) noexcept {
  const auto latest = caf::actor_clock::time_point::max();
  if (remaining >= caf::timespan::zero() && remaining >= latest - now)
    return latest;
  return now + remaining;
}

model::outcome shutting_down() {
  return model::outcome::failure(
    status_code::unavailable,
    "the gateway is shutting down and takes no new requests; retry against "
    "another instance");
}

grpc::Status finish_status(grpc::ServerContextBase& ctx, status st) {
  if (st.retry_after_ms > 0)
    ctx.AddTrailingMetadata(std::string(retry_after_header),
                            std::to_string(st.retry_after_ms));
  return grpc::Status(static_cast<grpc::StatusCode>(st.code),
                      std::move(st.message));
}

} // namespace prism::frontend
