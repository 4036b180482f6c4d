#pragma once

// The checks of each section of a config file. Each reads one map of the
// file into its part of the gateway's configuration and reports what is
// wrong with it to the checker.

#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace prism::config::detail {

class checker;
struct entry;
struct misplaced;
struct section;

// --- server.cpp: the gRPC and admin listeners, TLS and the scheduler

void check_server(checker& c, const entry& e, server_options& out);

// --- auth.cpp: who may call the gateway, and the audit log

void check_auth(checker& c, const entry& e, auth_options& out);

void check_audit(checker& c, const entry& e, audit_options& out);

/// Reports a SQLite backend whose database, or a journal file SQLite keeps
/// beside it, is the audit log's file: the audit log appends text to its
/// file and would corrupt the database.
void check_audit_file(checker& c, const gateway_config& cfg);

/// auth.mode mtls needs TLS with a client CA; a client CA without mtls would
/// verify certificates that nothing then uses.
void check_client_certificates(checker& c, const section& root,
                               const gateway_config& cfg);

// --- supervision.cpp: how a backend's connection actors are restarted

/// Hints for supervision and circuit keys written in the wrong map of a
/// backend. `backend_field` is "backends.<name>"; `here` is the dotted path
/// of the map being read, whose own keys are left out.
std::vector<misplaced> misplaced_supervision_keys(
  const std::string& backend_field, const std::string& here);

void check_supervision(checker& c, const entry& e,
                       const std::string& backend_field,
                       supervision_config& out);

void check_circuit(checker& c, const entry& e, const std::string& backend_field,
                   circuit_config& out);

// --- backends.cpp, with the keys of each kind in postgres.cpp, kafka.cpp
// and nats.cpp

/// Reads one backend. `known_type` says whether its type could be read.
backend check_backend(checker& c, const entry& e, bool& known_type);

/// The hint for a sqlite-only key found on a postgres backend.
std::string postgres_hint_for_sqlite_key(const std::string& key);

/// Reads the keys of a postgres backend from its section.
void check_postgres(checker& c, const section& s, bool known_type,
                    postgres_options& out);

/// Reads the keys of a kafka backend from its section.
void check_kafka(checker& c, const section& s, bool known_type,
                 kafka_options& out);

/// Reads the keys of a nats backend from its section.
void check_nats(checker& c, const section& s, bool known_type,
                nats_options& out);

// --- namespaces.cpp

/// What a namespace needs to know of the backend it names.
struct backend_info {
  bool known_type = false;
  backend_type type = backend_type::memory;
};

/// Reads one namespace. `backends_readable` is false when backends: could
/// not be read, and an unknown backend name is then not reported.
namespace_config check_namespace(
  checker& c, const entry& e,
  const std::map<std::string, backend_info>& backends, bool backends_readable);

/// Access lists name principals and groups that auth: defines, and only
/// when auth is on.
void check_access_names(checker& c, const section& namespaces,
                        const gateway_config& cfg);

} // namespace prism::config::detail
