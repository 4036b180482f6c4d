// Fuzzes what the front end reads from a call's metadata before the call
// becomes a message: the request id, the traceparent, the namespace, the
// deadline and, with auth.mode token, the bearer token.
//
// The input is text, one entry a line, "key: value" (the value is what
// follows ": "; a line without ':' is a key with an empty value). Keys
// starting with ':' are not metadata but the rest of the call, as gRPC
// would hand it over:
//   :namespace: NAME          the request's namespace field
//   :deadline: SEC NSEC       gRPC's deadline on its monotonic clock
//   :deadline-realtime: SEC NSEC   ... or on its realtime clock, SEC
//                             taken into 0..4e9 (1970 to 2096)
// Without a deadline line the call has none. gRPC converts a realtime time
// to its monotonic clock through a double and aborts when the difference
// exceeds what nanoseconds in 64 bits hold (some 292 years); a server's
// deadlines are on the monotonic clock (any value), so realtime ones stay
// within the years gRPC converts.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "config/defaults.hpp"
#include "frontend/authenticator.hpp"
#include "frontend/request_metadata.hpp"
#include "fuzz_check.hpp"
#include "model/digest.hpp"

namespace {

namespace frontend = prism::frontend;
namespace defaults = prism::defaults;
namespace config = prism::config;

/// Tokens the gateway knows, by principal; "root" is an admin.
const std::map<std::string, std::string> tokens
  = {{"reader", "reader-token"}, {"root", "root-token"}};

const frontend::authenticator& token_authenticator() {
  static const frontend::authenticator auth = [] {
    config::auth_options options;
    options.mode = config::auth_mode::token;
    for (const auto& [principal, token] : tokens)
      options.token_hashes[principal] = prism::model::sha256_hex(token);
    options.admins = {"root"};
    // Rejected request ids are logged; that is not what is tested here.
    spdlog::set_level(spdlog::level::off);
    return frontend::authenticator{options};
  }();
  return auth;
}

struct call {
  frontend::client_metadata metadata;
  std::string ns;
  gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
};

/// The latest realtime deadline the input gives: early 2096.
constexpr int64_t realtime_s_max = 4'000'000'000;

/// "SEC NSEC" as gRPC holds a time: nanoseconds in [0, 1e9).
std::optional<gpr_timespec> parse_time(std::string_view text,
                                       gpr_clock_type clock) {
  int64_t seconds = 0;
  int64_t nanoseconds = 0;
  auto end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, seconds);
  if (ec != std::errc{} || p == end || *p != ' ')
    return std::nullopt;
  auto [q, ec2] = std::from_chars(p + 1, end, nanoseconds);
  if (ec2 != std::errc{})
    return std::nullopt;
  nanoseconds %= 1'000'000'000;
  if (nanoseconds < 0)
    nanoseconds += 1'000'000'000;
  if (clock == GPR_CLOCK_REALTIME)
    seconds = std::clamp<int64_t>(seconds, 0, realtime_s_max);
  gpr_timespec t;
  t.tv_sec = seconds;
  t.tv_nsec = static_cast<int32_t>(nanoseconds);
  t.clock_type = clock;
  return t;
}

/// The call the input describes; its metadata points into `text`.
call parse_call(std::string_view text) {
  call out;
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{}
                                         : text.substr(eol + 1);
    auto colon = line.find(':', 1);
    auto key = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    }
    if (key == ":namespace") {
      out.ns.assign(value);
    } else if (key == ":deadline" || key == ":deadline-realtime") {
      auto clock = key == ":deadline" ? GPR_CLOCK_MONOTONIC
                                      : GPR_CLOCK_REALTIME;
      if (auto t = parse_time(value, clock))
        out.deadline = *t;
    } else {
      out.metadata.emplace(grpc::string_ref(key.data(), key.size()),
                           grpc::string_ref(value.data(), value.size()));
    }
  }
  return out;
}

std::string_view header(const frontend::client_metadata& md,
                        std::string_view name) {
  auto i = md.find(grpc::string_ref(name.data(), name.size()));
  if (i == md.end())
    return {};
  return {i->second.data(), i->second.size()};
}

bool printable_id(std::string_view id) {
  if (id.empty() || id.size() > defaults::request_id_bytes_max)
    return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7e)
      return false;
  return true;
}

void check_context(const call& c) {
  prism::request_context rc;
  rc.peer = "ipv4:127.0.0.1:50000";
  frontend::read_client_metadata(c.metadata, c.ns, rc);
  // The id is the client's when it can go into logs as it is, else a new one.
  const auto sent = header(c.metadata, frontend::request_id_header);
  FUZZ_CHECK(printable_id(rc.request_id));
  if (printable_id(sent))
    FUZZ_CHECK(rc.request_id == sent);
  FUZZ_CHECK(rc.traceparent
             == header(c.metadata, frontend::traceparent_header));
  FUZZ_CHECK(rc.ns.size() <= defaults::namespace_name_bytes_max + 3);

  // A known token names its principal; anything else is UNAUTHENTICATED.
  const auto& auth = token_authenticator();
  const auto authorization = header(c.metadata, "authorization");
  std::string expected;
  for (const auto& [principal, token] : tokens)
    if (authorization == "Bearer " + token)
      expected = principal;
  auto st = frontend::authenticate_token(c.metadata, auth, rc);
  FUZZ_CHECK(st.ok() == !expected.empty());
  FUZZ_CHECK(rc.principal == expected);
  if (!st.ok())
    FUZZ_CHECK(st.code == prism::status_code::unauthenticated);
  FUZZ_CHECK(auth.admin(authorization) == (expected == "root"));
  const auto& key = frontend::session_key(rc);
  FUZZ_CHECK(key.compare(0, rc.peer.size(), rc.peer) == 0);
}

void check_deadline(const call& c) {
  const auto now = caf::actor_clock::clock_type::now();
  const bool passed
    = gpr_time_cmp(gpr_convert_clock_type(c.deadline, GPR_CLOCK_MONOTONIC),
                   gpr_now(GPR_CLOCK_MONOTONIC))
    < 0;
  const auto deadline = frontend::call_deadline(c.deadline, now);
  // A deadline gone by is one the session refuses at once.
  if (passed)
    FUZZ_CHECK(deadline <= now);
  if (gpr_time_cmp(c.deadline, gpr_inf_future(c.deadline.clock_type)) == 0)
    FUZZ_CHECK(deadline == caf::actor_clock::time_point::max());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto c = parse_call({reinterpret_cast<const char*>(data), size});
  check_context(c);
  check_deadline(c);
  return 0;
}
