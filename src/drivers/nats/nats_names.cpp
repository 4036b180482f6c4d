#include "drivers/nats/nats_names.hpp"

#include <cstdio>

namespace prism::drivers::nats_names {

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

bool printable(unsigned char c) {
  return c > 0x20 && c < 0x7f;
}

void append_escape(std::string& out, unsigned char c) {
  out += '%';
  out += hex_digits[c >> 4];
  out += hex_digits[c & 0x0f];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// '_' -> "_u", '.' -> "_d", letters, digits and '-' as they are.
std::string encode_durable_part(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '_')
      out += "_u";
    else if (c == '.')
      out += "_d";
    else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
             || (c >= '0' && c <= '9') || c == '-')
      out += c;
    else {
      // Not a topic or subscription character; kept unambiguous anyway.
      auto b = static_cast<unsigned char>(c);
      out += "_x";
      out += hex_digits[b >> 4];
      out += hex_digits[b & 0x0f];
    }
  }
  return out;
}

uint64_t fnv1a(std::string_view a, std::string_view b) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(a);
  mix(std::string_view("\0", 1));
  mix(b);
  return h;
}

} // namespace

bool valid_subject(std::string_view subject) {
  if (subject.empty())
    return false;
  size_t token = 0;
  for (char ch : subject) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (token == 0)
        return false;
      token = 0;
      continue;
    }
    if (c <= 0x20 || c == 0x7f || c == '*' || c == '>')
      return false;
    ++token;
  }
  return token > 0;
}

bool subject_covers(std::string_view pattern, std::string_view wanted) {
  auto next = [](std::string_view& rest) {
    size_t dot = rest.find('.');
    std::string_view token = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view{}
                                         : rest.substr(dot + 1);
    return token;
  };
  bool more_pattern = !pattern.empty();
  bool more_wanted = !wanted.empty();
  while (more_pattern) {
    more_pattern = pattern.find('.') != std::string_view::npos;
    std::string_view p = next(pattern);
    if (p == ">")
      return more_wanted;
    if (!more_wanted)
      return false;
    more_wanted = wanted.find('.') != std::string_view::npos;
    std::string_view w = next(wanted);
    if (w == ">" || (p != "*" && p != w))
      return false;
  }
  return !more_wanted;
}

std::string subject(const std::string& subject_prefix, const std::string& ns,
                    const std::string& topic) {
  std::string s = subject_prefix.empty() ? ns : subject_prefix + "." + ns;
  s += '.';
  s += topic;
  return valid_subject(s) ? s : std::string{};
}

std::string stream_subjects(const std::string& subject_prefix,
                            const std::string& ns) {
  return (subject_prefix.empty() ? ns : subject_prefix + "." + ns) + ".>";
}

std::string stream_name(const std::string& stream_prefix,
                        const std::string& ns) {
  std::string name = stream_prefix + ns;
  for (char& ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || ch == '.' || ch == '*' || ch == '>'
        || ch == '/' || ch == '\\')
      ch = '_';
  }
  return name;
}

std::string durable_name(const std::string& topic,
                         const std::string& subscription) {
  std::string name
    = encode_durable_part(topic) + "_s" + encode_durable_part(subscription);
  if (name.size() <= durable_name_max)
    return name;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(fnv1a(topic, subscription)));
  name.resize(durable_name_max - 18);
  return name + "_h" + hash;
}

std::string metadata_header(std::string_view key) {
  std::string out{metadata_prefix};
  for (char ch : key) {
    auto c = static_cast<unsigned char>(ch);
    if (printable(c) && ch != '%' && ch != ':')
      out += ch;
    else
      append_escape(out, c);
  }
  return out;
}

bool metadata_key_of(std::string_view header, std::string& key) {
  if (header.substr(0, metadata_prefix.size()) != metadata_prefix)
    return false;
  key = decode_value(header.substr(metadata_prefix.size()));
  return true;
}

bool reserved_header(std::string_view header) {
  return header.substr(0, 5) == "Nats-" || header == "Status"
    || header == "Description" || header == id_header || header == time_header;
}

std::string encode_value(std::string_view value) {
  if (value.empty())
    return "%";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (printable(c) && ch != '%')
      out += ch;
    else
      append_escape(out, c);
  }
  return out;
}

std::string decode_value(std::string_view text) {
  if (text == "%")
    return {};
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string without_credentials(const std::string& urls) {
  std::string out;
  size_t start = 0;
  while (start <= urls.size()) {
    size_t end = urls.find(',', start);
    if (end == std::string::npos)
      end = urls.size();
    std::string url = urls.substr(start, end - start);
    size_t scheme = url.find("://");
    size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    size_t slash = url.find('/', host);
    size_t at = url.rfind('@', slash == std::string::npos ? url.npos : slash);
    if (at != std::string::npos && at >= host)
      url.erase(host, at + 1 - host);
    if (start > 0)
      out += ',';
    out += url;
    start = end + 1;
  }
  return out;
}

} // namespace prism::drivers::nats_names
