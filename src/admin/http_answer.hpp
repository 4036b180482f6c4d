#pragma once

// Between httplib and the admin routing: how the listener answers a request
// httplib has read. Apart from the listener so that the admin_route fuzzer
// runs it without the server.

#include "admin/admin_routes.hpp"

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace prism::admin {

/// The routing's answer to `req` in `res` (admin_routes.hpp), or 404 for a
/// path no endpoint has.
void answer_request(const admin_hooks& hooks, const httplib::Request& req,
                    httplib::Response& res);

} // namespace prism::admin
