// GET /debug/ui through the admin routing, without a socket: the page, its
// type, and a Content-Security-Policy whose hashes are those of the inline
// script and style the page carries (a browser would refuse to run them
// otherwise), and whose only origin is the page's own.

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string>

#include <catch2/catch.hpp>

#include "admin/admin_routes.hpp"

using namespace prism;

namespace {

/// The text between `open` and `close` in `text`; fails the test without.
std::string between(const std::string& text, const std::string& open,
                    const std::string& close) {
  auto start = text.find(open);
  INFO("looking for " << open);
  REQUIRE(start != std::string::npos);
  start += open.size();
  auto end = text.find(close, start);
  REQUIRE(end != std::string::npos);
  return text.substr(start, end - start);
}

/// 'sha256-BASE64' of `text`, the way a browser hashes an inline script.
std::string sha256_source(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest);
  unsigned char encoded[64];
  int length = EVP_EncodeBlock(encoded, digest, SHA256_DIGEST_LENGTH);
  return "'sha256-"
    + std::string(reinterpret_cast<const char*>(encoded),
                  static_cast<size_t>(length))
    + "'";
}

std::string header(const admin::admin_answer& answer, const std::string& name) {
  for (const auto& [key, value] : answer.headers)
    if (key == name)
      return value;
  return "";
}

} // namespace

TEST_CASE("GET /debug/ui: the page with a policy that runs only its own "
          "script and style and connects only to its origin") {
  admin::admin_hooks hooks;
  auto routed = admin::route(hooks, {"GET", "/debug/ui", ""});
  REQUIRE(routed);
  CHECK(routed->status == 200);
  CHECK(routed->content_type == "text/html; charset=utf-8");
  const auto& page = routed->body;
  CHECK(page.rfind("<!doctype html>", 0) == 0);

  auto policy = header(*routed, "Content-Security-Policy");
  INFO("Content-Security-Policy: " << policy);
  CHECK(policy.find("default-src 'none';") != std::string::npos);
  CHECK(policy.find("connect-src 'self';") != std::string::npos);
  CHECK(policy.find("script-src "
                    + sha256_source(between(page, "<script>", "</script>"))
                    + ";")
        != std::string::npos);
  CHECK(policy.find("style-src "
                    + sha256_source(between(page, "<style>", "</style>")) + ";")
        != std::string::npos);
  CHECK(header(*routed, "X-Content-Type-Options") == "nosniff");
  CHECK(header(*routed, "Cache-Control") == "no-store");

  // One inline script and one inline style, which the hashes cover.
  CHECK(page.find("<script", page.find("<script>") + 1) == std::string::npos);
  CHECK(page.find("<style", page.find("<style>") + 1) == std::string::npos);
  // The script builds nodes from the JSON; it never parses markup.
  for (const std::string markup_sink :
       {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"})
    CHECK(page.find(markup_sink) == std::string::npos);

  // The index lists it; HEAD answers like GET; it is GET only.
  auto index = admin::route(hooks, {"GET", "/", ""});
  REQUIRE(index);
  CHECK(index->body.find("/debug/ui") != std::string::npos);
  auto head = admin::route(hooks, {"HEAD", "/debug/ui", ""});
  REQUIRE(head);
  CHECK(head->status == 200);
  auto post = admin::route(hooks, {"POST", "/debug/ui", ""});
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->allow == "GET");
}
