#pragma once

// How the NATS driver names things on the server, and how a message's
// metadata travels as NATS headers. Pure functions, no client library, so
// they are unit-tested on their own.
//
// Names:
//   subject  "<subject_prefix>.<ns>.<topic>"      (a '.' in a topic is just
//                                                    more subject tokens)
//   stream   "<stream_prefix><ns>", characters a stream name cannot hold
//            ('.', '*', '>', '/', '\', whitespace, controls) replaced by '_';
//            it holds the subjects "<subject_prefix>.<ns>.>"
//   durable  the topic and the subscription name, each with '_' written "_u"
//            and '.' written "_d", joined by "_s" (so the encoding can be
//            read back and two pairs never share a name): topic "a.b",
//            subscription "x_y" -> "a_db_sx_uy". Past durable_name_max
//            characters, the first part of that plus "_h" and a 64-bit hash
//            of the pair.
//
// Headers: metadata key K travels as the header "Prism-Meta-<K>", and the
// value as is, except that '%', and every byte outside printable ASCII
// (space included), is written %XX (a NATS header line cannot hold CR or
// LF, and nats.c trims spaces and refuses an empty value; an empty value is
// written "%"). The same goes for the key, plus ':'. The publisher also sets
// "Prism-Id" and "Prism-Time" (ms since the epoch), which is how a core NATS
// subscriber learns a message's id and publish time. Headers of messages
// published by other NATS clients are passed on as metadata unchanged,
// except NATS's own ("Nats-*", "Status", "Description").

#include <cstdint>
#include <string>
#include <string_view>

namespace prism::drivers::nats_names {

inline constexpr std::string_view metadata_prefix = "Prism-Meta-";
inline constexpr const char* id_header = "Prism-Id";
inline constexpr const char* time_header = "Prism-Time";
/// Longest durable name the driver makes (nats-server limits names to 255
/// bytes, and a name is also a file name in the JetStream store).
inline constexpr size_t durable_name_max = 200;

/// True when `subject` is a valid literal NATS subject: non-empty tokens
/// separated by '.', no wildcards, no whitespace or control characters.
bool valid_subject(std::string_view subject);

/// The subject of (ns, topic), or "" when it would not be a valid subject
/// (e.g. a topic starting or ending with '.', or holding "..").
std::string subject(const std::string& subject_prefix, const std::string& ns,
                    const std::string& topic);

/// The wildcard subject a namespace's stream holds: "<prefix>.<ns>.>".
std::string stream_subjects(const std::string& subject_prefix,
                            const std::string& ns);

/// True when the subject pattern `pattern` (with '*' and '>' wildcards)
/// matches every subject `wanted` (which may end in ">") matches.
bool subject_covers(std::string_view pattern, std::string_view wanted);

/// The JetStream stream of namespace ns.
std::string stream_name(const std::string& stream_prefix,
                        const std::string& ns);

/// The durable consumer of a named subscription to a topic (the stream is
/// per namespace, so the namespace is not part of it).
std::string durable_name(const std::string& topic,
                         const std::string& subscription);

/// The header key of a metadata key, and back: the metadata key of a header
/// key, or false when the header is not a metadata header of ours.
std::string metadata_header(std::string_view key);
bool metadata_key_of(std::string_view header, std::string& key);

/// True for headers that NATS itself sets or reads, and for Prism's own
/// (id, time): they are not passed on as metadata.
bool reserved_header(std::string_view header);

/// %XX-encoding of header values (see above), and back. Decoding leaves a
/// malformed escape as it is.
std::string encode_value(std::string_view value);
std::string decode_value(std::string_view text);

/// `urls` (comma-separated) without user information: "nats://tok@h:4222"
/// becomes "nats://h:4222".
std::string without_credentials(const std::string& urls);

} // namespace prism::drivers::nats_names
