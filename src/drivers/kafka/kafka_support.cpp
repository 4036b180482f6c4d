#include "drivers/kafka/kafka_support.hpp"

#include "model/digest.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace prism::drivers::kafka {

std::string topic_name(const std::string& prefix, const std::string& ns,
                       const std::string& topic) {
  auto full = prefix + ns + "." + topic;
  if (full.size() <= topic_name_max)
    return full;
  auto digest = model::sha256_hex(full).substr(0, topic_name_digest_chars);
  return full.substr(0, topic_name_max - topic_name_digest_chars - 1) + "-"
    + digest;
}

std::optional<std::string> topic_name_problem(const std::string& name) {
  if (name.size() > topic_name_max)
    return "the Kafka topic name \"" + name.substr(0, 64) + "...\" has "
      + std::to_string(name.size()) + " characters; Kafka allows at most "
      + std::to_string(topic_name_max)
      + " (prefix, namespace and topic "
        "together)";
  auto bad = std::find_if(name.begin(), name.end(), [](char c) {
    return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
             || c == '-');
  });
  if (bad != name.end())
    return "the Kafka topic name \"" + name
      + "\" has a character Kafka does "
        "not allow in topic names (only a-z A-Z 0-9 . _ -)";
  return std::nullopt;
}

std::string group_id(const std::string& prefix, const std::string& ns,
                     const std::string& topic,
                     const std::string& subscription) {
  return prefix + ns + "." + topic + "." + subscription;
}

std::string message_id(int32_t partition, int64_t offset) {
  return std::to_string(partition) + "-" + std::to_string(offset);
}

uint64_t make_tag(int32_t partition, int64_t offset) {
  if (partition < 0 || partition > tag_partition_max || offset < 0
      || offset > tag_offset_max)
    throw std::out_of_range("no ack tag for partition "
                            + std::to_string(partition) + " offset "
                            + std::to_string(offset));
  return (static_cast<uint64_t>(partition) << 48)
    | static_cast<uint64_t>(offset + 1);
}

tag_position split_tag(uint64_t tag) {
  auto low = static_cast<int64_t>(tag & ((uint64_t{1} << 48) - 1));
  if (low == 0)
    return {};
  return {static_cast<int32_t>(tag >> 48), low - 1};
}

void handle_deleter::operator()(rd_kafka_t* rk) const noexcept {
  rd_kafka_destroy(rk);
}

rd_kafka_conf_t* make_config(const properties& defaults,
                             const properties& configured,
                             const properties& forced) {
  // Prism needs Kafka 0.11 or newer (idempotent producer, record headers
  // for metadata). A connection whose ApiVersion request fails (a timeout
  // on a loaded host) runs on librdkafka's broker.version.fallback, 0.10.0
  // by default, which has neither; assume the oldest version Prism works
  // with instead. `properties` may still set it.
  static const properties common{{"broker.version.fallback", "0.11.0"}};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto* layer : {&common, &defaults, &configured, &forced})
    for (const auto& [key, value] : *layer)
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error,
                            sizeof error)
          != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("librdkafka refuses " + key + "=" + value
                                 + ": " + error);
      }
  rd_kafka_conf_set_log_cb(conf, log_to_stderr);
  return conf;
}

handle make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, error, sizeof error);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot make a Kafka client: ")
                             + error);
  }
  return handle(rk);
}

void log_to_stderr(const rd_kafka_t* rk, int level, const char* facility,
                   const char* text) {
  // The backend's properties go to the producer and the consumers alike, so
  // each ignores the other kind's; that is expected, not worth a line.
  if (std::strcmp(facility, "CONFWARN") == 0
      && std::strstr(text, "will be ignored by this") != nullptr)
    return;
  std::fprintf(stderr, "kafka %s: %d %s: %s\n", rd_kafka_name(rk), level,
               facility, text);
}

model::message to_message(const rd_kafka_message_t& record,
                          const std::string& topic, uint64_t tag) {
  model::message m;
  m.topic = topic;
  if (record.payload != nullptr)
    m.payload.assign(static_cast<const char*>(record.payload), record.len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&record, &headers)
      == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size)
         == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i)
      m.metadata.emplace_back(
        name,
        value ? std::string(static_cast<const char*>(value), size)
              : std::string());
  }
  m.id = message_id(record.partition, record.offset);
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  int64_t timestamp = rd_kafka_message_timestamp(&record, &type);
  m.publish_time_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : timestamp;
  m.tag = tag;
  return m;
}

} // namespace prism::drivers::kafka
