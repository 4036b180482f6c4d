#include "history.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace prism::chaos {

namespace {

// An error message longer than this is cut in the history: the code and the
// start of the message say what happened.
constexpr size_t status_message_bytes_max = 240;

} // namespace

double now_ms() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch);
  return static_cast<double>(us.count()) / 1000.0;
}

const char* outcome_of(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return "ok";
    // The call may have reached the backend and been applied before its
    // answer was lost (a broken connection, a deadline, a backend that broke
    // mid-call), or the gateway may have failed in an unforeseen way.
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS: return "unknown";
    default: return "fail";
  }
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNRECOGNISED";
  }
}

history::history(const std::string& path)
  : file_(std::fopen(path.c_str(), "a")) {
  if (file_ == nullptr)
    throw std::runtime_error("cannot open the history file \"" + path
                             + "\": " + std::strerror(errno));
}

history::~history() {
  std::fclose(file_);
}

void history::write(const nlohmann::json& record) {
  // Payloads and values are ASCII (the client makes them), so replacing
  // invalid UTF-8 never alters one; it only keeps a server message from
  // throwing.
  auto line
    = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> guard(mutex_);
  std::fputs(line.c_str(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

void add_status(nlohmann::json& record, const grpc::Status& status) {
  record["outcome"] = outcome_of(status);
  record["code"] = code_name(status.error_code());
  if (!status.ok())
    record["msg"] = status.error_message().substr(0, status_message_bytes_max);
}

} // namespace prism::chaos
