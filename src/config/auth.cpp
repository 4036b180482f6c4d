// The auth: section (who may call the gateway: modes, tokens, groups and
// admins), the audit: section, and the rule tying auth.mode mtls to the
// listener's client CA.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"

namespace prism::config::detail {

namespace {

const std::vector<std::string> auth_keys
  = {"mode", "principal_from", "tokens", "token_file", "groups", "admins"};
const std::vector<std::string> auth_modes = {"none", "token", "mtls"};
const std::vector<std::string> principal_sources = {"cn", "san"};
const std::vector<std::string> audit_keys = {"path"};

bool sha256_hex(const std::string& text) {
  return text.size() == 64
    && std::all_of(text.begin(), text.end(), [](char ch) {
           return std::isdigit(static_cast<unsigned char>(ch))
             || (ch >= 'a' && ch <= 'f');
         });
}

const char* token_hash_hint
  = "give the SHA-256 of the token as 64 lowercase hex digits, never the token itself: "
    "printf %s \"$TOKEN\" | sha256sum";

/// Reads `token_file`: lines "<principal> <sha256 hex>", '#' comments.
void read_token_file(checker& c, const entry& e, const std::string& field,
                     auth_options& out) {
  std::error_code ec;
  if (std::filesystem::is_directory(out.token_file, ec)) {
    c.report(
      c.at(e.value), field,
      "cannot read token file " + quote(out.token_file) + ": it is a directory",
      "give a readable file of lines \"<principal> <sha256 of its token>\"");
    return;
  }
  // A device or a pipe (/dev/zero, /dev/stdin) would be read without end.
  if (std::filesystem::exists(out.token_file, ec)
      && !std::filesystem::is_regular_file(out.token_file, ec)) {
    c.report(c.at(e.value), field,
             "cannot read token file " + quote(out.token_file)
               + ": it is not a regular file",
             "give a file of lines \"<principal> <sha256 of its token>\"");
    return;
  }
  std::ifstream in(out.token_file);
  if (!in) {
    c.report(
      c.at(e.value), field,
      "cannot read token file " + quote(out.token_file) + ": "
        + std::strerror(errno),
      "give a readable file of lines \"<principal> <sha256 of its token>\"");
    return;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto hash = line.find('#');
    if (hash != std::string::npos)
      line.erase(hash);
    std::istringstream words(line);
    std::string principal, digest, extra;
    if (!(words >> principal))
      continue;
    std::string where = out.token_file + " line " + std::to_string(number);
    if (!(words >> digest) || (words >> extra)) {
      c.report(c.at(e.value), field,
               where + ": expected \"<principal> <sha256>\"", token_hash_hint);
    } else if (!valid_name(principal, 128)) {
      c.report(c.at(e.value), field,
               where + ": invalid principal name " + quote(principal),
               std::string{"a principal name "} + name_rule);
    } else if (!sha256_hex(digest)) {
      c.report(c.at(e.value), field,
               where + ": the token hash of " + quote(principal)
                 + " is not a SHA-256",
               token_hash_hint);
    } else if (!out.token_hashes.emplace(principal, digest).second) {
      c.report(c.at(e.value), field,
               where + ": principal " + quote(principal)
                 + " has a token already",
               "give each principal one token");
    }
  }
}

/// Reads tokens: (entry `v`), a map from principal to the SHA-256 of its
/// token, into `out`. Returns every principal named there, valid or not.
std::set<std::string> check_tokens(checker& c, const section& s, const entry& v,
                                   auth_options& out) {
  std::set<std::string> listed;
  section ts = c.open(v.value, s.path("tokens"), c.at(v.key),
                      "a map from principal to the SHA-256 of its token",
                      "principal");
  for (const auto& t : ts.items) {
    listed.insert(t.name);
    if (!valid_name(t.name, 128)) {
      c.report(c.at(t.key), ts.path(t.name),
               "invalid principal name " + quote(t.name),
               std::string{"a principal name "} + name_rule);
      continue;
    }
    // The value is not repeated: it may be a token pasted by mistake.
    if (!t.value.IsScalar() || !sha256_hex(t.value.Scalar())) {
      c.report(c.at_value(t), ts.path(t.name), "is not the SHA-256 of a token",
               token_hash_hint);
      continue;
    }
    out.token_hashes[t.name] = t.value.Scalar();
  }
  return listed;
}

/// Reads groups: (entry `v`), a map from group name to its principals.
/// A member must have a token, or be `listed` under tokens:, unless
/// `names_from_certificates`.
void check_groups(checker& c, const section& s, const entry& v,
                  bool names_from_certificates,
                  const std::set<std::string>& listed, auth_options& out) {
  section gs = c.open(v.value, s.path("groups"), c.at(v.key),
                      "a map from group name to its principals", "group");
  for (const auto& g : gs.items) {
    if (!valid_name(g.name, 128)) {
      c.report(c.at(g.key), gs.path(g.name),
               "invalid group name " + quote(g.name),
               std::string{"a group name "} + name_rule);
      continue;
    }
    if (out.token_hashes.count(g.name)) {
      c.report(c.at(g.key), gs.path(g.name),
               "group " + quote(g.name) + " has the name of a principal",
               "give groups and principals different names");
      continue;
    }
    auto members = name_list(c, g, gs.path(g.name), "principals");
    for (const auto& m : members)
      if (!names_from_certificates && !out.token_hashes.count(m)
          && !listed.count(m))
        c.report(c.at(g.value), gs.path(g.name),
                 "unknown principal " + quote(m),
                 "list it under auth.tokens: or in auth.token_file");
    out.groups[g.name] = std::move(members);
  }
}

/// Reports two principals with the same token: the gateway could only ever
/// pick one of them for it (access rules and audit lines would name the
/// wrong one).
void check_shared_tokens(checker& c, const entry& e, const auth_options& out) {
  std::map<std::string, std::string> owner_of;
  for (const auto& [principal, digest] : out.token_hashes) {
    std::string key = digest;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) {
      return static_cast<char>(std::tolower(ch));
    });
    auto [at, fresh] = owner_of.emplace(key, principal);
    if (!fresh)
      c.report(c.at(e.key), "auth",
               "principals " + quote(at->second) + " and " + quote(principal)
                 + " have the same token (the same SHA-256)",
               "give each principal a token of its own");
  }
}

} // namespace

void check_auth(checker& c, const entry& e, auth_options& out) {
  section s
    = c.open(e.value, "auth", c.at(e.key), "a map of authentication settings");
  c.unknown_keys(s, auth_keys);
  if (const entry* v = s.find("mode")) {
    int index = c.choice(*v, s.path("mode"), "auth mode", auth_modes);
    if (index >= 0)
      out.mode = static_cast<auth_mode>(index);
  }
  if (const entry* v = s.find("principal_from")) {
    int index = c.choice(*v, s.path("principal_from"), "certificate field",
                         principal_sources);
    if (index >= 0)
      out.principal_from = static_cast<principal_source>(index);
    if (out.mode != auth_mode::mtls)
      c.report(c.at(v->key), s.path("principal_from"),
               "principal_from applies only with auth.mode: mtls",
               "remove it, or set mode: mtls");
  }
  // With mtls, principals are the names in client certificates: any name may
  // appear in groups and access rules without a token.
  const bool names_from_certificates = out.mode == auth_mode::mtls;
  // Principals named under tokens:, valid or not (a bad hash is reported
  // once, not again where the name is used).
  std::set<std::string> listed;
  if (const entry* v = s.find("tokens"))
    listed = check_tokens(c, s, *v, out);
  if (const entry* v = s.find("token_file"))
    if (c.text(*v, s.path("token_file"), out.token_file,
               "give a file of lines \"<principal> <sha256>\""))
      read_token_file(c, *v, s.path("token_file"), out);
  if (const entry* v = s.find("groups"))
    check_groups(c, s, *v, names_from_certificates, listed, out);
  if (const entry* v = s.find("admins")) {
    out.admins = name_list(c, *v, s.path("admins"), "principals or groups");
    for (const auto& name : out.admins)
      if (!names_from_certificates && !out.token_hashes.count(name)
          && !out.groups.count(name))
        c.report(
          c.at(v->value), s.path("admins"),
          "unknown principal or group " + quote(name),
          "define it under auth.tokens:, auth.token_file or auth.groups:");
  }
  check_shared_tokens(c, e, out);
  if (out.mode == auth_mode::token && out.token_hashes.empty())
    c.report(s.find("mode") ? c.at(s.find("mode")->value) : s.where,
             s.path("mode"), "auth mode token, but no principal has a token",
             "list principals under auth.tokens: or in auth.token_file");
}

void check_audit(checker& c, const entry& e, audit_options& out) {
  section s = c.open(e.value, "audit", c.at(e.key), "a map of audit settings");
  c.unknown_keys(s, audit_keys);
  if (const entry* v = s.find("path"))
    c.text(*v, s.path("path"), out.path,
           "give the audit log file, e.g. ./data/audit.log");
}

void check_audit_file(checker& c, const gateway_config& cfg) {
  std::error_code ec;
  auto audit_file = std::filesystem::weakly_canonical(cfg.audit.path, ec);
  for (const auto& [name, b] : cfg.backends) {
    if (ec || b.type != backend_type::sqlite || b.sqlite.path.empty())
      continue;
    std::error_code ec2;
    auto db_file
      = std::filesystem::weakly_canonical(b.sqlite.path, ec2).string();
    if (ec2)
      continue;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      if (audit_file == db_file + suffix) {
        std::string which
          = *suffix ? " (its " + std::string{suffix + 1} + " file)" : "";
        c.report(b.where, "backends." + name + ".path",
                 "SQLite database " + quote(b.sqlite.path) + which
                   + " shares the audit log's file (audit.path "
                   + quote(cfg.audit.path) + ")",
                 "give the database and the audit log files of their own");
        break;
      }
  }
}

void check_client_certificates(checker& c, const section& root,
                               const gateway_config& cfg) {
  const entry* auth = root.find("auth");
  const entry* server = root.find("server");
  const auto& tls = cfg.server.tls;
  if (cfg.auth.mode == auth_mode::mtls && tls.client_ca_file.empty()) {
    YAML::Node mode = auth && auth->value.IsMap() ? auth->value["mode"]
                                                  : YAML::Node{};
    c.report(
      mode ? c.at(mode) : root.where, "auth.mode",
      "auth mode mtls needs TLS on the gRPC listener with a CA for client certificates",
      "set server.tls: {cert_file: ..., key_file: ..., client_ca_file: ...}");
  }
  if (cfg.auth.mode != auth_mode::mtls && !tls.client_ca_file.empty() && server
      && server->value.IsMap()) {
    YAML::Node ca = server->value["tls"]["client_ca_file"];
    c.report(c.at(ca), "server.tls.client_ca_file",
             "client certificates are checked only with auth.mode: mtls",
             "set auth: {mode: mtls}, or remove client_ca_file:");
  }
}

} // namespace prism::config::detail
