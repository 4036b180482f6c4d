#include "logging/log.hpp"
#include "config/defaults.hpp"
#include "logging/throttle.hpp"

#include <chrono>
#include <mutex>
#include <stdexcept>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace prism::logging {

namespace {

/// `%*`: the message as the contents of a JSON string.
class json_message_flag final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned char c :
         std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (c < 0x20) {
            char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            dest.append(esc, esc + sizeof(esc));
          } else {
            dest.push_back(static_cast<char>(c));
          }
      }
    }
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

/// libprotobuf's messages, into the gateway's log. In a running gateway
/// they come from requests gRPC could not parse (a `string` field with
/// invalid UTF-8, say; the client gets INTERNAL "Unable to parse request"),
/// so a client could write them at will: one warning a minute, saying how
/// many were held back, the rest at debug level.
void protobuf_log(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    spdlog::critical("libprotobuf ({}:{}): {}", file, line, message);
    return;
  }
  static log_throttle throttle{
    std::chrono::milliseconds{defaults::client_warning_interval_ms}};
  uint64_t held = 0;
  if (throttle.admit(log_throttle::clock::now(), held)) {
    spdlog::warn("libprotobuf: {} ({} more such messages in the minute "
                 "before, at debug level)",
                 message, held);
    return;
  }
  spdlog::debug("libprotobuf: {}", message);
}

} // namespace

bool parse_format(const std::string& text, format& out) {
  if (text == "text") {
    out = format::text;
    return true;
  }
  if (text == "json") {
    out = format::json;
    return true;
  }
  return false;
}

void setup(format fmt, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level \"" + level
                                + "\"; use trace, debug, info, warn, error "
                                  "or off");
  auto logger = std::make_shared<spdlog::logger>(
    "prism", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (fmt == format::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(
      spdlog::pattern_time_type::utc);
    formatter->add_flag<json_message_flag>('*').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  google::protobuf::SetLogHandler(&protobuf_log);
}

} // namespace prism::logging
