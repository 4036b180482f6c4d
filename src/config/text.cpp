#include "config/text.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>

#include <arpa/inet.h>

#include <yaml-cpp/yaml.h>

namespace prism::config::detail {

namespace {

/// Levenshtein distance, ignoring case.
size_t edit_distance(const std::string& a, const std::string& b) {
  auto x = lower(a);
  auto y = lower(b);
  std::vector<size_t> prev(y.size() + 1);
  std::vector<size_t> cur(y.size() + 1);
  for (size_t j = 0; j <= y.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= x.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= y.size(); ++j) {
      size_t subst = prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[y.size()];
}

} // namespace

std::string quote(const std::string& text) {
  return "\"" + text + "\"";
}

std::string join(const std::vector<std::string>& words, const char* sep) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty())
      out += sep;
    out += w;
  }
  return out;
}

std::string join_words(const std::vector<std::string>& words) {
  if (words.size() < 2)
    return join(words);
  std::vector<std::string> head(words.begin(), words.end() - 1);
  return join(head) + " or " + words.back();
}

std::string lower(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string closest(const std::string& word,
                    const std::vector<std::string>& choices) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& choice : choices) {
    size_t d = edit_distance(word, choice);
    size_t allowed
      = std::max<size_t>(1, std::min<size_t>(3, choice.size() / 3));
    bool prefix = word.size() >= 4 && word.size() < choice.size()
      && lower(choice).compare(0, word.size(), lower(word)) == 0;
    if ((d <= allowed || prefix) && d < best_distance) {
      best = choice;
      best_distance = d;
    }
  }
  return best;
}

std::string did_you_mean(const std::string& word,
                         const std::vector<std::string>& choices) {
  auto guess = closest(word, choices);
  return guess.empty() ? std::string{} : "did you mean " + quote(guess) + "? ";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "the value " + quote(node.Scalar());
    default: return "nothing";
  }
}

bool valid_name(const std::string& name, size_t max_length) {
  if (name.empty() || name.size() > max_length)
    return false;
  auto alnum = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
  };
  if (!alnum(name[0]))
    return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return alnum(c) || c == '_' || c == '.' || c == '-';
  });
}

std::string host_port_error(const std::string& text, std::string& host,
                            uint16_t& port) {
  if (text.empty())
    return "is empty";
  std::string port_text;
  if (text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos)
      return "has no closing ']' after the IPv6 host";
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return "has no port after the host";
    port_text = text.substr(close + 2);
    if (host.empty())
      return "has an empty host";
    bool ok = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':'
        || c == '.' || c == '%';
    });
    if (!ok || host.find(':') == std::string::npos)
      return "has an invalid IPv6 host " + quote(host);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return "has no port";
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.empty())
      return "has an empty host";
    if (host.find(':') != std::string::npos)
      return "has an IPv6 host without brackets";
    bool ok = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'
        || c == '_';
    });
    if (!ok || host.front() == '-' || host.front() == '.')
      return "has an invalid host " + quote(host);
    // Digits and dots: an IPv4 address in one of the forms the resolver
    // takes (127.0.0.1, 127.1, 010.0.0.1), so not 999.1.1.1. Digits alone
    // may also be a host name.
    bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
    in_addr ipv4{};
    if (numeric && host.find('.') != std::string::npos
        && ::inet_aton(host.c_str(), &ipv4) == 0)
      return "has an invalid IPv4 address " + quote(host)
        + " (four numbers of 0..255)";
  }
  if (port_text.empty())
    return "has an empty port";
  if (port_text.size() > 5
      || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c));
         })) {
    bool digits = std::all_of(port_text.begin(), port_text.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    if (digits)
      return "has port " + port_text + ", above 65535";
    return "has port " + quote(port_text) + ", which is not a number";
  }
  unsigned long value = std::stoul(port_text);
  if (value > 65535)
    return "has port " + port_text + ", above 65535";
  port = static_cast<uint16_t>(value);
  return {};
}

std::string real_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  std::string out = buffer;
  if (out.find_first_of(".en") == std::string::npos)
    out += ".0";
  return out;
}

bool plain_decimal(const std::string& text) {
  bool digit = false;
  bool point = false;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return false;
    }
  }
  return digit;
}

bool exponent_form(const std::string& text) {
  auto e = text.find_first_of("eE");
  if (e == std::string::npos || !plain_decimal(text.substr(0, e)))
    return false;
  std::string rest = text.substr(e + 1);
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-'))
    rest.erase(0, 1);
  return !rest.empty() && std::all_of(rest.begin(), rest.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

bool wildcard_host(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}

bool valid_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool only_name_chars(const std::string& text, const char* extra) {
  return std::all_of(text.begin(), text.end(), [&](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch))
      || std::strchr(extra, ch) != nullptr;
  });
}

} // namespace prism::config::detail
