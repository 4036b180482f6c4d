#include "model/status.hpp"

namespace prism {

std::string_view to_string(status_code code) noexcept {
  switch (code) {
    case status_code::ok: return "OK";
    case status_code::cancelled: return "CANCELLED";
    case status_code::unknown: return "UNKNOWN";
    case status_code::invalid_argument: return "INVALID_ARGUMENT";
    case status_code::deadline_exceeded: return "DEADLINE_EXCEEDED";
    case status_code::not_found: return "NOT_FOUND";
    case status_code::already_exists: return "ALREADY_EXISTS";
    case status_code::permission_denied: return "PERMISSION_DENIED";
    case status_code::resource_exhausted: return "RESOURCE_EXHAUSTED";
    case status_code::failed_precondition: return "FAILED_PRECONDITION";
    case status_code::aborted: return "ABORTED";
    case status_code::out_of_range: return "OUT_OF_RANGE";
    case status_code::unimplemented: return "UNIMPLEMENTED";
    case status_code::internal: return "INTERNAL";
    case status_code::unavailable: return "UNAVAILABLE";
    case status_code::data_loss: return "DATA_LOSS";
    case status_code::unauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

std::string_view to_string(refusal reason) noexcept {
  switch (reason) {
    case refusal::none: return "none";
    case refusal::rate_limit: return "rate_limit";
    case refusal::mailbox_full: return "mailbox_full";
    case refusal::window_full: return "window_full";
    case refusal::queue_full: return "queue_full";
    case refusal::circuit_open: return "circuit_open";
    case refusal::deadline: return "deadline";
    case refusal::audit_backlog: return "audit_backlog";
  }
  return "none";
}

} // namespace prism
