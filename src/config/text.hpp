#pragma once

// Small text helpers of the config checker: quoting and joining words for
// messages, suggesting the word a misspelling was meant to be, and telling
// whether a name, an address or a number is written the way a key wants.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace prism::config::detail {

/// `text` in double quotes, for messages.
std::string quote(const std::string& text);

/// The words separated by `sep`.
std::string join(const std::vector<std::string>& words, const char* sep = ", ");

/// "a", "a or b", "a, b or c".
std::string join_words(const std::vector<std::string>& words);

/// `text` in lower case (ASCII).
std::string lower(std::string text);

/// The choice `word` was most likely meant to be, or "" when none is close.
std::string closest(const std::string& word,
                    const std::vector<std::string>& choices);

/// "did you mean "x"? " when a choice is close, else "".
std::string did_you_mean(const std::string& word,
                         const std::vector<std::string>& choices);

/// How a node looks to a person: "a map", "a list", "the value "abc"".
std::string describe(const YAML::Node& node);

/// True when `name` starts with a letter or digit, holds only letters,
/// digits, '_', '.' and '-', and has at most `max_length` characters.
bool valid_name(const std::string& name, size_t max_length);

/// Why `text` is not a valid "host:port", or "" when it is.
std::string host_port_error(const std::string& text, std::string& host,
                            uint16_t& port);

/// A real number for messages, always with a decimal point: "1.0", "0.25".
std::string real_text(double value);

/// Digits with at most one '.', and at least one digit: "2", "2.0", ".5".
bool plain_decimal(const std::string& text);

/// A plain decimal followed by an exponent: "1e3", "2.5E-1".
bool exponent_form(const std::string& text);

/// True when `host` listens on every address: "0.0.0.0", "::" or "".
bool wildcard_host(const std::string& host);

/// True when `name` can name an environment variable: letters, digits and
/// '_', not starting with a digit.
bool valid_env_name(const std::string& name);

/// True when every character of `text` is a letter, a digit or one of `extra`.
bool only_name_chars(const std::string& text, const char* extra);

} // namespace prism::config::detail
