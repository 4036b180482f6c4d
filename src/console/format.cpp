#include "console/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace prism::console {

namespace {

/// "%.1f" without a trailing ".0".
std::string one_decimal(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  std::string text = buf;
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0)
    text.resize(text.size() - 2);
  return text;
}

std::string two_digits(uint64_t value) {
  return (value < 10 ? "0" : "") + std::to_string(value);
}

constexpr size_t ellipsis_columns = 1;
constexpr const char* ellipsis = "…";
/// A flexible column is never cut below this many columns (or its title).
constexpr size_t flexible_width_min = 8;
constexpr size_t column_gap = 2;

} // namespace

std::string human_us(double us) {
  if (!(us >= 0))
    return "-";
  if (us < 1000)
    return std::to_string(static_cast<uint64_t>(std::llround(us))) + " µs";
  double ms = us / 1000;
  if (ms < 10)
    return one_decimal(ms) + " ms";
  if (ms < 1000)
    return std::to_string(static_cast<uint64_t>(std::llround(ms))) + " ms";
  double s = ms / 1000;
  if (s < 10)
    return one_decimal(s) + " s";
  if (s < 60)
    return std::to_string(static_cast<uint64_t>(std::llround(s))) + " s";
  auto secs = static_cast<uint64_t>(s);
  if (secs < 3600)
    return std::to_string(secs / 60) + "m " + two_digits(secs % 60) + "s";
  if (secs < 86400)
    return std::to_string(secs / 3600) + "h " + two_digits(secs % 3600 / 60)
      + "m";
  return std::to_string(secs / 86400) + "d " + two_digits(secs % 86400 / 3600)
    + "h";
}

std::string human_ms(double ms) {
  return human_us(ms * 1000);
}

std::string human_bytes(double bytes) {
  if (!(bytes >= 0))
    return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(units)) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0)
    return std::to_string(static_cast<uint64_t>(bytes)) + " B";
  return one_decimal(bytes) + " " + units[unit];
}

std::string human_number(double value) {
  if (!std::isfinite(value))
    return "-";
  if (std::fabs(value) >= 100000)
    return one_decimal(value / 1000) + "k";
  if (std::fabs(value) >= 100)
    return std::to_string(static_cast<int64_t>(std::llround(value)));
  return one_decimal(value);
}

std::optional<uint64_t> parse_whole(const std::string& text) {
  if (text.empty() || text.size() > 20
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<uint64_t> parse_duration_ms(const std::string& text) {
  size_t end = 0;
  while (end < text.size()
         && ((text[end] >= '0' && text[end] <= '9') || text[end] == '.'))
    ++end;
  if (end == 0 || std::count(text.begin(), text.begin() + end, '.') > 1)
    return std::nullopt;
  double number = std::strtod(text.substr(0, end).c_str(), nullptr);
  auto unit = text.substr(end);
  double factor = 0;
  if (unit.empty() || unit == "s")
    factor = 1000;
  else if (unit == "ms")
    factor = 1;
  else if (unit == "m")
    factor = 60000;
  else if (unit == "h")
    factor = 3600000;
  else
    return std::nullopt;
  double ms = number * factor;
  if (!(ms >= 1) || ms > 1e12)
    return std::nullopt;
  return static_cast<uint64_t>(std::llround(ms));
}

size_t display_width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80)
      ++width;
  return width;
}

std::string ellipsize(const std::string& text, size_t width) {
  if (display_width(text) <= width)
    return text;
  if (width <= ellipsis_columns)
    return width == 0 ? "" : ellipsis;
  size_t keep = width - ellipsis_columns;
  size_t bytes = 0;
  for (size_t seen = 0; bytes < text.size(); ++bytes) {
    if ((static_cast<unsigned char>(text[bytes]) & 0xC0) != 0x80) {
      if (seen == keep)
        break;
      ++seen;
    }
  }
  return text.substr(0, bytes) + ellipsis;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest(const std::string& word,
                    const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& candidate : candidates) {
    // A prefix ("tr" for "tree") is as good as a near miss.
    size_t distance = candidate.compare(0, word.size(), word) == 0
      ? 1
      : edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  if (best_distance > std::max<size_t>(2, word.size() / 3))
    return "";
  return best;
}

table::table(std::vector<column> columns)
  : columns_(std::move(columns)), widths_min_(columns_.size(), 0) {}

void table::set_width_min(size_t index, size_t columns) {
  widths_min_.at(index) = columns;
}

void table::add(std::vector<std::string> row) {
  row.resize(columns_.size());
  rows_.push_back(std::move(row));
}

std::vector<std::string> table::lines(size_t width) const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = std::max(display_width(columns_[c].title), widths_min_[c]);
    for (const auto& row : rows_)
      widths[c] = std::max(widths[c], display_width(row[c]));
  }
  size_t total = 0;
  for (auto w : widths)
    total += w;
  total += columns_.empty() ? 0 : column_gap * (columns_.size() - 1);
  // Take the excess from the flexible columns, widest first.
  while (width > 0 && total > width) {
    size_t widest = columns_.size();
    for (size_t c = 0; c < columns_.size(); ++c) {
      size_t floor
        = std::max(flexible_width_min, display_width(columns_[c].title));
      if (columns_[c].flexible && widths[c] > floor
          && (widest == columns_.size() || widths[c] > widths[widest]))
        widest = c;
    }
    if (widest == columns_.size())
      break;
    --widths[widest];
    --total;
  }
  auto line_of = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      auto cell = ellipsize(cells[c], widths[c]);
      std::string pad(widths[c] - display_width(cell), ' ');
      if (c > 0)
        line += std::string(column_gap, ' ');
      line += columns_[c].alignment == align::right ? pad + cell : cell + pad;
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    return line;
  };
  std::vector<std::string> out;
  std::vector<std::string> titles;
  for (const auto& col : columns_)
    titles.push_back(col.title);
  out.push_back(line_of(titles));
  for (const auto& row : rows_)
    out.push_back(line_of(row));
  return out;
}

std::string table::render(size_t width) const {
  std::string text;
  for (const auto& line : lines(width))
    text += line + "\n";
  return text;
}

} // namespace prism::console
