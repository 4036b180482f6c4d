#include "frontend/request_metadata.hpp"

#include <chrono>
#include <random>

#include <spdlog/spdlog.h>

#include "config/defaults.hpp"

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

std::string header(const grpc::ServerContextBase& ctx,
                   std::string_view name) {
  auto& md = ctx.client_metadata();
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
  auto id = header(ctx, request_id_header);
  if (acceptable_request_id(id)) {
    rc.request_id = std::move(id);
  } else {
    rc.request_id = generate_request_id();
    if (!id.empty())
      spdlog::warn("request_id={} replaces a client request id that is not "
                   "1-{} printable characters",
                   rc.request_id, defaults::request_id_bytes_max);
  }
  ctx.AddInitialMetadata(std::string(request_id_header), rc.request_id);
  rc.traceparent = header(ctx, traceparent_header);
  rc.ns = ns;
  rc.peer = ctx.peer();
  auto deadline = ctx.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    auto remaining = deadline - std::chrono::system_clock::now();
    rc.deadline = sys.clock().now()
                  + std::chrono::duration_cast<caf::timespan>(remaining);
  }
  return rc;
}

kv::outcome shutting_down() {
  return kv::outcome::failure(
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
