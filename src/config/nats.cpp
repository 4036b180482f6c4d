// The keys of a nats backend: its servers, JetStream and the streams it
// creates, and where its token comes from.

#include <cstring>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"

namespace prism::config::detail {

namespace {

/// How to write url:, for hints.
constexpr const char* url_hint
  = "give nats://host:port, several separated by commas, e.g. url: nats://127.0.0.1:4222";

/// Reads url: (entry `v`), one or more nats:// or tls:// server URLs
/// separated by commas, without credentials. Leaves `out` alone on a problem.
void check_url(checker& c, const section& s, const entry& v,
               nats_options& out) {
  std::string text;
  if (c.text(v, s.path("url"), text, url_hint)) {
    bool ok = true;
    size_t from = 0;
    while (ok && from <= text.size()) {
      size_t comma = text.find(',', from);
      std::string one = text.substr(
        from, comma == std::string::npos ? std::string::npos : comma - from);
      std::string rest;
      for (const char* scheme : {"nats://", "tls://"})
        if (one.rfind(scheme, 0) == 0)
          rest = one.substr(std::strlen(scheme));
      std::string host;
      uint16_t port = 0;
      if (rest.find('@') != std::string::npos) {
        // Not repeated: it holds a secret.
        c.report(
          c.at(v.value), s.path("url"), "the url holds credentials",
          "remove user:password@ or token@ from url and set token_env: to the name of an environment "
          "variable holding the token, so it stays out of the config and the logs");
        ok = false;
      } else if (rest.empty() || !split_host_port(rest, host, port)
                 || port == 0) {
        c.report(c.at(v.value), s.path("url"),
                 "server URL " + quote(one) + " is not nats://host:port",
                 url_hint);
        ok = false;
      }
      if (comma == std::string::npos)
        break;
      from = comma + 1;
    }
    if (ok)
      out.url = text;
  }
}

} // namespace

void check_nats(checker& c, const section& s, bool known_type,
                nats_options& out) {
  if (const entry* v = s.find("url"))
    check_url(c, s, *v, out);
  else if (known_type)
    c.missing(s, "url",
              std::string{"add url: with the server's address; "} + url_hint);
  if (const entry* v = s.find("jetstream"))
    c.boolean(
      *v, s.path("jetstream"), out.jetstream,
      "write jetstream: true (stored messages, durable named subscriptions) or jetstream: false "
      "(core NATS only, at most once)");
  if (const entry* v = s.find("subject_prefix")) {
    std::string prefix;
    if (c.text(*v, s.path("subject_prefix"), prefix,
               "e.g. subject_prefix: prism")) {
      bool ok = only_name_chars(prefix, "._-") && prefix.front() != '.'
        && prefix.back() != '.' && prefix.find("..") == std::string::npos;
      if (!ok)
        c.report(
          c.at(v->value), s.path("subject_prefix"),
          "invalid subject prefix " + quote(prefix),
          "use tokens of letters, digits, '_' and '-' separated by single dots, with no wildcards, "
          "e.g. prism or apps.prism");
      else
        out.subject_prefix = prefix;
    }
  }
  if (const entry* v = s.find("stream_prefix")) {
    std::string prefix;
    if (c.text(*v, s.path("stream_prefix"), prefix,
               "e.g. stream_prefix: PRISM_")) {
      if (prefix.size() > 32 || !only_name_chars(prefix, "_-"))
        c.report(
          c.at(v->value), s.path("stream_prefix"),
          "invalid stream prefix " + quote(prefix),
          "JetStream stream names use letters, digits, '_' and '-'; at most 32 characters, e.g. PRISM_");
      else
        out.stream_prefix = prefix;
    }
  }
  if (const entry* v = s.find("stream_max_age_ms"))
    c.number(
      *v, s.path(v->name), 0, uint64_t{10} * 365 * 24 * 3600 * 1000,
      out.stream_max_age_ms,
      "use 0..315360000000 milliseconds (up to 10 years; 0: keep messages forever)");
  if (const entry* v = s.find("stream_max_bytes"))
    c.number(*v, s.path(v->name), 0, uint64_t{1} << 50, out.stream_max_bytes,
             "use 0..1125899906842624 bytes (0: no limit)");
  if (const entry* v = s.find("connect_timeout_ms"))
    c.number(
      *v, s.path(v->name), 1, 600000, out.connect_timeout_ms,
      "use 1..600000 milliseconds (up to 10 minutes) for one connection attempt");
  if (const entry* v = s.find("token_env")) {
    if (c.text(
          *v, s.path("token_env"), out.token_env,
          "give the name of an environment variable, e.g. PRISM_NATS_TOKEN")
        && !valid_env_name(out.token_env)) {
      c.report(
        c.at(v->value), s.path("token_env"),
        quote(out.token_env) + " is not an environment variable name",
        "use letters, digits and '_', not starting with a digit, e.g. PRISM_NATS_TOKEN; give the "
        "variable's name, not the token");
      out.token_env.clear();
    }
  }
}

} // namespace prism::config::detail
