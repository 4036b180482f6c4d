#pragma once

// Small pieces the Kafka driver's parts share: how (namespace, topic,
// subscription) become Kafka names, how a delivered message is tagged for
// ack(), how librdkafka handles are configured and owned, and how a fetched
// record becomes a model::message.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <librdkafka/rdkafka.h>

#include "model/operation.hpp"

namespace prism::drivers::kafka {

/// The longest Kafka topic name, in characters.
inline constexpr size_t topic_name_max = 249;

/// Hex digits of the SHA-256 that stand for the end of a name too long
/// for Kafka.
inline constexpr size_t topic_name_digest_chars = 16;

/// "<prefix><ns>.<topic>"; when that is longer than Kafka allows, its first
/// 232 characters, '-' and 16 hex digits of its SHA-256, so every topic the
/// API accepts (up to 249 characters, in a namespace of up to 128) has a
/// Kafka topic of its own.
std::string topic_name(const std::string& prefix, const std::string& ns,
                       const std::string& topic);

/// Why `name` cannot be a Kafka topic (it is too long, or has a character
/// other than a-z A-Z 0-9 . _ -), or nothing when it can.
std::optional<std::string> topic_name_problem(const std::string& name);

/// "<prefix><ns>.<topic>.<subscription>".
std::string group_id(const std::string& prefix, const std::string& ns,
                     const std::string& topic, const std::string& subscription);

/// "<partition>-<offset>", the id a publisher and a subscriber see.
std::string message_id(int32_t partition, int64_t offset);

/// A named subscription's ack tag for (partition, offset): the partition in
/// the top 16 bits, offset + 1 in the low 48, so that no tag is 0 (the tag of
/// ephemeral deliveries).
inline constexpr int32_t tag_partition_max = 0xFFFF;
inline constexpr int64_t tag_offset_max = (int64_t{1} << 48) - 2;
uint64_t make_tag(int32_t partition, int64_t offset);

struct tag_position {
  int32_t partition = -1;
  int64_t offset = -1;
};
/// The inverse of make_tag; partition -1 for a tag make_tag never made.
tag_position split_tag(uint64_t tag);

// --- librdkafka handles ---------------------------------------------------------

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const noexcept;
};
using handle = std::unique_ptr<rd_kafka_t, handle_deleter>;

struct partition_list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using partition_list
  = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;

struct queue_deleter {
  void operator()(rd_kafka_queue_t* queue) const noexcept {
    rd_kafka_queue_destroy(queue);
  }
};
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

using properties = std::map<std::string, std::string>;

/// A librdkafka config with `defaults` first, then the backend's
/// `configured` properties, then `forced` (which nothing overrides). Throws
/// std::runtime_error with librdkafka's reason for a property it refuses.
rd_kafka_conf_t* make_config(const properties& defaults,
                             const properties& configured,
                             const properties& forced);

/// Makes a client of `type`; takes `conf` in all cases. Throws
/// std::runtime_error with librdkafka's reason.
handle make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf);

/// The log callback every handle of the driver uses: librdkafka's lines on
/// stderr, prefixed with the handle's client.id.
void log_to_stderr(const rd_kafka_t* rk, int level, const char* facility,
                   const char* text);

// --- records ----------------------------------------------------------------------

/// A fetched record as a subscriber receives it: `topic` is the client's
/// topic name (not the Kafka one), the publish time the record's timestamp.
model::message to_message(const rd_kafka_message_t& record,
                          const std::string& topic, uint64_t tag);

} // namespace prism::drivers::kafka
