#pragma once

// The console's source for a running gateway: its admin listener over HTTP.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "console/source.hpp"

namespace prism::console {

/// How long the console waits to connect, and for an answer.
inline constexpr std::chrono::milliseconds admin_connect_timeout{2000};
inline constexpr std::chrono::milliseconds admin_answer_timeout{10000};

/// HOST:PORT split; false with `error` naming the problem.
bool parse_admin_address(const std::string& text, std::string& host,
                         uint16_t& port, std::string& error);

class http_source final : public source {
public:
  /// `token`, when not empty, goes with every POST as a bearer token.
  http_source(std::string host, uint16_t port, std::string token = "");
  ~http_source() override;

  reply get(const std::string& path) override;
  reply post(const std::string& path) override;
  std::string describe() const override;

private:
  reply send(const char* method, const std::string& path);

  std::string host_;
  uint16_t port_;
  std::string token_;
};

} // namespace prism::console
