// The keys of a postgres backend: its libpq connection string, where its
// password comes from, and its timeouts.

#include <cctype>
#include <cstring>

#include <libpq-fe.h>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"

namespace prism::config::detail {

namespace {

/// True when a libpq connection string or URI carries a password: a
/// password= setting anywhere, or a URI's user:password@.
bool dsn_has_password(const std::string& dsn) {
  std::string text = lower(dsn);
  for (size_t at = text.find("password"); at != std::string::npos;
       at = text.find("password", at + 1)) {
    size_t i = at + 8;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    if (i < text.size() && text[i] == '=')
      return true;
  }
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (text.rfind(scheme, 0) != 0)
      continue;
    size_t start = std::strlen(scheme);
    size_t end = text.find_first_of("/?", start);
    std::string authority = text.substr(
      start, end == std::string::npos ? std::string::npos : end - start);
    size_t user_end = authority.rfind('@');
    if (user_end != std::string::npos
        && authority.substr(0, user_end).find(':') != std::string::npos)
      return true;
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  bool found = false;
  if (options != nullptr) {
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o)
      if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr
          && o->val[0] != '\0')
        found = true;
    PQconninfoFree(options);
  }
  PQfreemem(error);
  return found;
}

/// Why libpq cannot read a connection string, or "" when it can. Only called
/// on strings without a password, so libpq's message may quote the string.
std::string dsn_parse_error(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  std::string why;
  if (options == nullptr) {
    why = error != nullptr ? error : "out of memory";
    while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back())))
      why.pop_back();
  }
  PQconninfoFree(options);
  PQfreemem(error);
  return why;
}

} // namespace

std::string postgres_hint_for_sqlite_key(const std::string& key) {
  if (key == "path")
    return "a postgres backend names its server with dsn:, e.g. dsn: \"host=127.0.0.1 port=5432 dbname=prism "
           "user=prism\"; remove path";
  if (key == "synchronous")
    return "remove it: on postgres, durability is the server's synchronous_commit setting";
  return "remove it: on postgres, lock waits end at statement_timeout_ms or at the request's deadline";
}

void check_postgres(checker& c, const section& s, bool known_type,
                    postgres_options& out) {
  const char* dsn_example
    = "e.g. dsn: \"host=127.0.0.1 port=5432 dbname=prism user=prism\" or "
      "dsn: postgresql://prism@127.0.0.1:5432/prism";
  if (const entry* v = s.find("dsn")) {
    std::string dsn;
    if (c.text(*v, s.path("dsn"), dsn,
               std::string{"give a libpq connection string, "} + dsn_example)) {
      if (dsn_has_password(dsn)) {
        // The message does not repeat the string: it holds a secret.
        c.report(
          c.at(v->value), s.path("dsn"),
          "the connection string holds a password",
          "remove the password from dsn and set password_env: (the name of an environment variable "
          "holding it) or password_file: (a file holding it), so it stays out of the config, the "
          "logs and error messages");
      } else if (auto why = dsn_parse_error(dsn); !why.empty()) {
        c.report(c.at(v->value), s.path("dsn"),
                 "is not a valid libpq connection string: " + why,
                 std::string{"write key=value pairs or a postgresql:// URI, "}
                   + dsn_example);
      } else {
        out.dsn = std::move(dsn);
      }
    }
  } else if (known_type) {
    c.missing(s, "dsn",
              std::string{"add dsn: with a libpq connection string, "}
                + dsn_example);
  }

  const entry* env = s.find("password_env");
  const entry* file = s.find("password_file");
  if (env != nullptr
      && c.text(
        *env, s.path("password_env"), out.password_env,
        "give the name of an environment variable, e.g. PRISM_PG_PASSWORD")) {
    if (!valid_env_name(out.password_env)) {
      c.report(
        c.at(env->value), s.path("password_env"),
        quote(out.password_env) + " is not an environment variable name",
        "use letters, digits and '_', not starting with a digit, e.g. PRISM_PG_PASSWORD; give the "
        "variable's name, not the password");
      out.password_env.clear();
    }
  }
  if (file != nullptr)
    c.text(
      *file, s.path("password_file"), out.password_file,
      "give the path of a file whose first line is the password, e.g. /run/secrets/prism-pg");
  if (env != nullptr && file != nullptr) {
    const entry& later = after(c.at(file->key), c.at(env->key)) ? *file : *env;
    c.report(
      c.at(later.key), s.path(later.name),
      "password_env and password_file are both set",
      "keep one of them: the password comes either from an environment variable or from a file");
  }

  if (const entry* v = s.find("connect_timeout_ms"))
    c.number(
      *v, s.path(v->name), 1, 600000, out.connect_timeout_ms,
      "use 1..600000 milliseconds (up to 10 minutes) for one connection attempt");
  if (const entry* v = s.find("statement_timeout_ms"))
    c.number(
      *v, s.path(v->name), 0, 86400000, out.statement_timeout_ms,
      "use 0..86400000 milliseconds (up to 1 day; 0: no limit but the request's deadline)");
  if (const entry* v = s.find("idle_timeout_ms"))
    c.number(
      *v, s.path(v->name), 0, 86400000, out.idle_timeout_ms,
      "use 0..86400000 milliseconds (up to 1 day; 0: never close an idle connection)");
  if (const entry* v = s.find("max_lifetime_ms"))
    c.number(
      *v, s.path(v->name), 0, 86400000, out.max_lifetime_ms,
      "use 0..86400000 milliseconds (up to 1 day; 0: keep a connection as long as it works)");
}

} // namespace prism::config::detail
