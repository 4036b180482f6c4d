#include "admin/http_answer.hpp"

#include <httplib.h>

namespace prism::admin {

void answer_request(const admin_hooks& hooks, const httplib::Request& req,
                    httplib::Response& res) {
  std::map<std::string, std::string> query;
  for (auto& [key, value] : req.params)
    query.emplace(key, value);
  auto routed
    = route(hooks,
            {req.method, req.path, req.get_header_value("Authorization"),
             std::move(query)});
  if (!routed) {
    res.status = 404;
    return;
  }
  res.status = routed->status;
  if (!routed->allow.empty())
    res.set_header("Allow", routed->allow);
  for (const auto& [name, value] : routed->headers)
    res.set_header(name, value);
  res.set_content(routed->body, routed->content_type);
}

} // namespace prism::admin
