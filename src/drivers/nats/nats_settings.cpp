#include "drivers/nats/nats_settings.hpp"

#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "config/config.hpp"
#include "drivers/nats/nats_names.hpp"

namespace prism::drivers::nats_detail {

int64_t ms_until(time_point t) {
  if (t == time_point::max())
    return std::numeric_limits<int64_t>::max();
  return std::chrono::duration_cast<milliseconds>(t - steady::now()).count();
}

time_point deadline_after(op_timeout timeout) {
  auto now = steady::now();
  if (timeout == no_timeout
      || timeout > milliseconds(defaults::nats_publish_timeout_max_ms))
    return time_point::max();
  if (timeout < op_timeout::zero())
    return now;
  return now + std::chrono::duration_cast<steady::duration>(timeout);
}

std::string error_text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  if (s != NATS_OK && last != nullptr && *last != '\0')
    return last;
  return natsStatus_GetText(s);
}

namespace {

/// JetStream API errors worth retrying: the server (or its JetStream) is
/// starting, stopping or busy.
bool transient(jsErrCode code) {
  return code == 0 || code == JSClusterNotAvailErr
    || code == JSClusterNotLeaderErr || code == JSNotEnabledErr
    || code == JSInsufficientResourcesErr;
}

} // namespace

step classify(natsStatus s, jsErrCode code, const std::string& what) {
  std::string text = what + ": " + error_text(s);
  if (code != 0)
    text += " (JetStream error " + std::to_string(code) + ")";
  if (!transient(code))
    return step::fail(code == JSNotEnabledForAccountErr
                        ? status_code::failed_precondition
                        : status_code::unavailable,
                      text);
  return step::again(text);
}

nats_settings settings_of(const config::backend& backend) {
  const auto& n = backend.nats;
  nats_settings s;
  s.backend = backend.name;
  s.url = n.url;
  s.target = nats_names::without_credentials(n.url);
  s.jetstream = n.jetstream;
  s.subject_prefix = n.subject_prefix;
  s.stream_prefix = n.stream_prefix;
  s.stream_max_age_ms = n.stream_max_age_ms;
  s.stream_max_bytes = n.stream_max_bytes;
  s.connect_timeout_ms = n.connect_timeout_ms;
  s.max_pending = backend.max_pending;
  s.unavailable_after_ms = backend.unavailable_after_ms;
  if (!n.token_env.empty()) {
    const char* token = std::getenv(n.token_env.c_str());
    if (token == nullptr)
      throw std::runtime_error("backend \"" + backend.name
                               + "\": token_env "
                                 "names the environment variable "
                               + n.token_env + ", which is not set");
    s.token = token;
  }
  if (s.url.empty())
    throw std::runtime_error("backend \"" + backend.name
                             + "\": no NATS url configured");
  return s;
}

} // namespace prism::drivers::nats_detail
