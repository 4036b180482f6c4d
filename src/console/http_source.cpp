#include "console/http_source.hpp"

#include <cstring>

#include <httplib.h>

#include "console/format.hpp"

namespace prism::console {

bool parse_admin_address(const std::string& text, std::string& host,
                         uint16_t& port, std::string& error) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    error
      = "--admin takes HOST:PORT (e.g. 127.0.0.1:8981), not \"" + text + "\"";
    return false;
  }
  auto number = parse_whole(text.substr(colon + 1));
  if (!number || *number == 0 || *number > 65535) {
    error
      = "--admin: the port of \"" + text + "\" is not a number from 1 to 65535";
    return false;
  }
  host = text.substr(0, colon);
  // "[::1]:8981": httplib wants the address without brackets.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(*number);
  return true;
}

http_source::http_source(std::string host, uint16_t port, std::string token)
  : host_(std::move(host)), port_(port), token_(std::move(token)) {}

http_source::~http_source() = default;

std::string http_source::describe() const {
  return host_ + ":" + std::to_string(port_);
}

reply http_source::get(const std::string& path) {
  return send("GET", path);
}

reply http_source::post(const std::string& path) {
  return send("POST", path);
}

reply http_source::send(const char* method, const std::string& path) {
  // One connection per request: the console asks a few times a second at
  // most, and the listener closes idle connections after 2 s anyway.
  httplib::Client client(host_, port_);
  client.set_connection_timeout(admin_connect_timeout);
  client.set_read_timeout(admin_answer_timeout);
  client.set_write_timeout(admin_answer_timeout);
  httplib::Headers headers;
  bool is_post = std::strcmp(method, "POST") == 0;
  if (is_post && !token_.empty())
    headers.emplace("Authorization", "Bearer " + token_);
  auto began = std::chrono::steady_clock::now();
  auto result = is_post ? client.Post(path.c_str(), headers, "", "text/plain")
                        : client.Get(path.c_str(), headers);
  auto took = std::chrono::steady_clock::now() - began;
  reply answer;
  if (!result) {
    auto err = result.error();
    if (err == httplib::Error::Connection) {
      // httplib reports a refusal and a connect timeout alike; the time
      // it took tells them apart.
      std::string why = took < admin_connect_timeout
        ? "connection refused"
        : "no answer to connect within "
          + human_ms(static_cast<double>(admin_connect_timeout.count()));
      answer.error = "no admin listener at " + describe() + ": " + why
        + " (start `prism serve` or pass --admin HOST:PORT)";
    } else if (err == httplib::Error::Read || err == httplib::Error::Write) {
      answer.error = "the admin listener at " + describe() + " did not answer "
        + method + " " + path + " within "
        + human_ms(static_cast<double>(admin_answer_timeout.count()))
        + " (or closed the connection)";
    } else {
      answer.error = std::string(method) + " " + path + " on " + describe()
        + " failed: " + httplib::to_string(err);
    }
    return answer;
  }
  answer.status = result->status;
  auto parsed = nlohmann::json::parse(result->body, nullptr, false);
  answer.body = parsed.is_discarded() ? nlohmann::json(result->body) : parsed;
  return answer;
}

} // namespace prism::console
