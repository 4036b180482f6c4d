// Fuzzes the admin listener's routing without a socket: a request as
// httplib hands it over (method, path, query, headers, body) goes to
// answer_request, the listener's own handler, with an inspector holding a
// few actors and every hook wired. The query reaches the endpoints that
// read one (a tap's limits, a reader's position). The input is an HTTP request's text:
//
//   METHOD TARGET
//   Header: value
//   ...
//   (an empty line)
//   body
//
// Besides never crashing, the routing must answer exactly the paths the
// listener hands it (the regular expression it registers with httplib),
// and its JSON must parse.

#include <cstddef>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "admin/admin_routes.hpp"
#include "admin/http_answer.hpp"
#include "fuzz_check.hpp"
#include "runtime/inspector.hpp"
#include "runtime/slow_log.hpp"

namespace {

namespace admin = prism::admin;

const admin::admin_hooks& hooks() {
  static prism::inspector actors;
  static prism::slow_log slow(4, std::chrono::milliseconds(10));
  static const admin::admin_hooks wired = [] {
    auto now = caf::actor_clock::clock_type::now();
    actors.register_actor(1, "supervisor", "gateway", 0, now);
    actors.register_actor(2, "pool", "mem", 1, now);
    actors.register_actor(7, "session", "peer \xff\xfe", 99, now);
    admin::admin_hooks h;
    h.metrics = [] {
      return std::string{"prism_requests_total 1\n"};
    };
    h.ready = [] {
      return true;
    };
    h.actors = &actors;
    h.slow = &slow;
    h.admin_allowed = [](const std::string& authorization) {
      return authorization == "Bearer root-token";
    };
    h.reload = [] {
      return admin::reload_outcome{
        false, "config OK: 1 namespace", {"backends.mem changed", "\xc3("}};
    };
    return h;
  }();
  return wired;
}

/// The methods httplib routes; any other it answers 400 itself.
const std::set<std::string> routed_methods
  = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

/// The request the input describes, as httplib's parser fills it in.
httplib::Request parse_request(std::string_view text) {
  httplib::Request req;
  auto eol = text.find('\n');
  auto line = text.substr(0, eol);
  text = eol == std::string_view::npos ? std::string_view{}
                                       : text.substr(eol + 1);
  auto space = line.find(' ');
  req.method = std::string(line.substr(0, space));
  if (space != std::string_view::npos)
    req.target = std::string(line.substr(space + 1));
  auto target = std::string_view{req.target};
  target = target.substr(0, target.find('#'));
  auto question = target.find('?');
  req.path = httplib::detail::decode_url(
    std::string(target.substr(0, question)), false);
  if (question != std::string_view::npos)
    httplib::detail::parse_query_text(std::string(target.substr(question + 1)),
                                      req.params);
  while (!text.empty()) {
    eol = text.find('\n');
    line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{}
                                         : text.substr(eol + 1);
    if (line.empty())
      break;
    auto colon = line.find(':');
    auto value = colon == std::string_view::npos ? std::string_view{}
                                                 : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    req.headers.emplace(std::string(line.substr(0, colon)), std::string(value));
  }
  req.body = std::string(text);
  return req;
}

/// httplib's limit on a request line: longer paths never reach routing.
constexpr size_t request_line_bytes_max = 8192;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& h = hooks();
  auto req = parse_request({reinterpret_cast<const char*>(data), size});
  httplib::Response res;
  admin::answer_request(h, req, res);

  std::map<std::string, std::string> query;
  for (auto& [key, value] : req.params)
    query.emplace(key, value);
  auto routed = admin::route(
    h, {req.method, req.path, req.get_header_value("Authorization"), query});
  // Starting a tap twice may answer differently: the first can take the
  // last free place.
  bool starts_tap = req.method == "POST"
    && req.path.rfind("/debug/trace/", 0) == 0
    && req.path.find("/stop") == std::string::npos;
  if (routed) {
    FUZZ_CHECK(res.status == routed->status
               || (starts_tap && routed->status == 409));
    FUZZ_CHECK(routed->status >= 200 && routed->status < 600);
    FUZZ_CHECK(!routed->body.empty() && !routed->content_type.empty());
    // The same answer, but for the times the /debug JSON carries.
    FUZZ_CHECK(res.get_header_value("Content-Type") == routed->content_type);
    FUZZ_CHECK(res.get_header_value("Allow") == routed->allow);
    FUZZ_CHECK((routed->status == 405) == !routed->allow.empty());
    if (routed->status == 405)
      FUZZ_CHECK(routed->allow == "GET" || routed->allow == "POST"
                 || routed->allow == "POST, GET"
                 || routed->allow == "GET, POST");
    if (routed->content_type == "application/json")
      FUZZ_CHECK(nlohmann::json::accept(routed->body));
  } else {
    FUZZ_CHECK(res.status == 404 && res.body.empty());
  }

  // The routing answers the paths the listener registers with httplib and
  // no other: an endpoint's path for every routed method, "/" for GET.
  if (routed_methods.count(req.method)
      && req.path.size() <= request_line_bytes_max) {
    static const std::regex registered{admin::routed_paths_pattern()};
    bool handed = std::regex_match(req.path, registered)
      || (req.path == "/" && (req.method == "GET" || req.method == "HEAD"));
    FUZZ_CHECK(handed == routed.has_value());
  }
  return 0;
}
