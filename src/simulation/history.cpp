#include "simulation/history.hpp"

#include <algorithm>
#include <cstdio>

namespace prism::simulation {

std::string_view to_string(op_function f) noexcept {
  switch (f) {
    case op_function::get: return "get";
    case op_function::set: return "set";
    case op_function::cas: return "cas";
    case op_function::del: return "delete";
    case op_function::batch_set: return "batch_set";
    case op_function::scan: return "scan";
    case op_function::publish: return "publish";
    case op_function::subscribe: return "subscribe";
  }
  return "?";
}

std::string_view to_string(pubsub_model m) noexcept {
  switch (m) {
    case pubsub_model::kafka: return "kafka";
    case pubsub_model::jetstream: return "jetstream";
    case pubsub_model::nats_core: return "nats_core";
  }
  return "?";
}

std::string_view to_string(completion_type t) noexcept {
  switch (t) {
    case completion_type::ok: return "ok";
    case completion_type::fail: return "fail";
    case completion_type::info: return "info";
  }
  return "?";
}

completion_type classify(const kv_operation& op) {
  if (!op.code || op.cancelled)
    return completion_type::info;
  switch (*op.code) {
    case status_code::ok: return completion_type::ok;
    // Refused before the backend ran it, or a CAS that did not match.
    case status_code::resource_exhausted:
    case status_code::failed_precondition:
    case status_code::invalid_argument:
    case status_code::not_found:
    case status_code::permission_denied:
    case status_code::unauthenticated: return completion_type::fail;
    default: return op.writes() ? completion_type::info : completion_type::fail;
  }
}

bool succeeded(const kv_operation& op) {
  return op.code && !op.cancelled
    && (*op.code == status_code::ok
        || (op.f == op_function::cas
            && *op.code == status_code::failed_precondition));
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

std::string entries_json(const kv_operation& op) {
  std::string out = "[";
  for (size_t i = 0; i < op.entries.size(); ++i)
    out += (i ? "," : "") + std::string("[") + json_string(op.entries[i].first)
      + "," + json_string(op.entries[i].second) + "]";
  return out + "]";
}

std::string invoke_line(const kv_operation& op) {
  std::string line = "{\"index\":" + std::to_string(op.invoke_index)
    + ",\"process\":" + std::to_string(op.process)
    + ",\"type\":\"invoke\",\"f\":\"" + std::string(to_string(op.f)) + "\"";
  switch (op.f) {
    case op_function::get:
    case op_function::del:
      line += ",\"key\":" + json_string(op.key) + ",\"value\":null";
      break;
    case op_function::set:
      line += ",\"key\":" + json_string(op.key)
        + ",\"value\":" + json_string(op.value);
      break;
    case op_function::cas:
      line += ",\"key\":" + json_string(op.key)
        + ",\"value\":" + json_string(op.value)
        + ",\"if_version\":" + std::to_string(op.if_version);
      break;
    case op_function::batch_set:
      line += ",\"key\":null,\"value\":" + entries_json(op);
      break;
    case op_function::scan:
      line += ",\"key\":" + json_string(op.key) + ",\"value\":null";
      break;
    case op_function::publish:
    case op_function::subscribe:
      line += ",\"key\":" + json_string(op.key)
        + ",\"value\":" + json_string(op.value);
      break;
  }
  line += ",\"time_ms\":" + std::to_string(op.invoke_ms)
    + ",\"request_id\":" + json_string(op.request_id);
  if (op.final_read)
    line += ",\"final\":true";
  return line + "}\n";
}

std::string completion_line(const kv_operation& op) {
  auto type = classify(op);
  std::string line = "{\"index\":" + std::to_string(op.complete_index)
    + ",\"process\":" + std::to_string(op.process) + ",\"type\":\""
    + std::string(to_string(type)) + "\",\"f\":\""
    + std::string(to_string(op.f)) + "\"";
  bool ok = type == completion_type::ok;
  switch (op.f) {
    case op_function::get:
      line += ",\"key\":" + json_string(op.key) + ",\"value\":"
        + (ok && op.found ? json_string(op.read_value) : "null");
      if (ok && op.found)
        line += ",\"version\":" + std::to_string(op.version);
      break;
    case op_function::set:
    case op_function::cas:
      line += ",\"key\":" + json_string(op.key)
        + ",\"value\":" + json_string(op.value);
      if (op.f == op_function::cas)
        line += ",\"if_version\":" + std::to_string(op.if_version);
      if (ok)
        line += ",\"version\":" + std::to_string(op.version);
      break;
    case op_function::del:
      line += ",\"key\":" + json_string(op.key) + ",\"value\":null";
      if (ok)
        line += std::string(",\"existed\":") + (op.existed ? "true" : "false");
      break;
    case op_function::batch_set:
      line += ",\"key\":null,\"value\":" + entries_json(op);
      if (ok) {
        line += ",\"version\":[";
        for (size_t i = 0; i < op.versions.size(); ++i)
          line += (i ? "," : "") + std::to_string(op.versions[i]);
        line += "]";
      }
      break;
    case op_function::scan:
      line += ",\"key\":" + json_string(op.key) + ",\"value\":";
      if (ok) {
        line += "[";
        for (size_t i = 0; i < op.items.size(); ++i)
          line += (i ? "," : "") + std::string("[")
            + json_string(op.items[i].key) + ","
            + json_string(op.items[i].value) + ","
            + std::to_string(op.items[i].version) + "]";
        line += "]";
      } else {
        line += "null";
      }
      break;
    case op_function::publish:
      line += ",\"key\":" + json_string(op.key)
        + ",\"value\":" + json_string(op.value);
      if (ok)
        line += ",\"message_id\":" + json_string(op.read_value);
      break;
    case op_function::subscribe:
      line += ",\"key\":" + json_string(op.key)
        + ",\"value\":" + json_string(op.value);
      break;
  }
  line += ",\"time_ms\":" + std::to_string(op.complete_ms)
    + ",\"request_id\":" + json_string(op.request_id) + ",\"code\":\""
    + std::string(to_string(*op.code)) + "\"";
  if (!ok)
    line += ",\"error\":" + json_string(op.message);
  if (op.cancelled)
    line += ",\"cancelled\":true";
  if (op.connection_lost)
    line += ",\"connection_lost\":true";
  if (op.final_read)
    line += ",\"final\":true";
  return line + "}\n";
}

} // namespace

std::string history_jsonl(const std::vector<kv_operation>& ops) {
  return history_jsonl(ops, {});
}

std::string history_jsonl(const std::vector<kv_operation>& ops,
                          const std::vector<delivery>& deliveries) {
  std::vector<std::pair<uint64_t, const kv_operation*>> invokes;
  std::vector<std::pair<uint64_t, const kv_operation*>> completions;
  for (auto& op : ops) {
    invokes.emplace_back(op.invoke_index, &op);
    if (op.answered())
      completions.emplace_back(op.complete_index, &op);
  }
  std::vector<std::pair<uint64_t, std::string>> lines;
  for (auto& [index, op] : invokes)
    lines.emplace_back(index, invoke_line(*op));
  for (auto& [index, op] : completions)
    lines.emplace_back(index, completion_line(*op));
  for (auto& d : deliveries) {
    auto head = [&](uint64_t index, const char* type) {
      return "{\"index\":" + std::to_string(index)
        + ",\"process\":" + std::to_string(d.process) + ",\"type\":\"" + type
        + "\",\"f\":\"deliver\",\"key\":" + json_string(d.topic);
    };
    auto tail = ",\"time_ms\":" + std::to_string(d.time_ms) + ",\"stream\":\"s"
      + std::to_string(d.stream)
      + "\",\"subscription\":" + json_string(d.subscription);
    lines.emplace_back(
      d.index, head(d.index, "invoke") + ",\"value\":null" + tail + "}\n");
    lines.emplace_back(
      d.index + 1,
      head(d.index + 1, "ok") + ",\"value\":" + json_string(d.payload) + tail
        + ",\"message_id\":" + json_string(d.message_id) + "}\n");
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](auto& a, auto& b) { return a.first < b.first; });
  std::string out;
  for (auto& [index, line] : lines)
    out += line;
  return out;
}

std::string describe(const kv_operation& op) {
  std::string text
    = op.request_id + " (process " + std::to_string(op.process) + ") ";
  switch (op.f) {
    case op_function::get: text += "Get " + op.key; break;
    case op_function::set: text += "Set " + op.key + " = " + op.value; break;
    case op_function::cas:
      text += "Set " + op.key + " = " + op.value + " if_version "
        + std::to_string(op.if_version);
      break;
    case op_function::del: text += "Delete " + op.key; break;
    case op_function::batch_set:
      text += "BatchSet";
      for (auto& [k, v] : op.entries)
        text += " " + k + "=" + v;
      break;
    case op_function::scan: text += "Scan after " + op.key; break;
    case op_function::publish:
      text += "Publish " + op.key + " " + op.value;
      break;
    case op_function::subscribe:
      text += "Subscribe " + op.key
        + (op.value.empty() ? " (ephemeral)" : " as " + op.value);
      break;
  }
  if (!op.code) {
    text += " -> no answer, called at " + std::to_string(op.invoke_ms) + " ms";
    return text;
  }
  text += " -> " + std::string(to_string(*op.code));
  if (*op.code == status_code::ok) {
    switch (op.f) {
      case op_function::get:
        text += op.found
          ? " " + op.read_value + " version " + std::to_string(op.version)
          : " not found";
        break;
      case op_function::set:
      case op_function::cas:
        text += " version " + std::to_string(op.version);
        break;
      case op_function::del:
        text += op.existed ? " existed" : " did not exist";
        break;
      case op_function::batch_set:
        text += " versions";
        for (auto v : op.versions)
          text += " " + std::to_string(v);
        break;
      case op_function::scan:
        text += " " + std::to_string(op.items.size()) + " items";
        break;
      case op_function::publish: text += " id " + op.read_value; break;
      case op_function::subscribe: break;
    }
  }
  text += ", " + std::to_string(op.invoke_ms) + ".."
    + std::to_string(op.complete_ms) + " ms";
  return text;
}

} // namespace prism::simulation
