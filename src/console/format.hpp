#pragma once

// How the console writes what it reads: durations and sizes a person reads
// at a glance, and tables whose columns line up and fit the terminal.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace prism::console {

/// "850 µs", "4.1 ms", "412 ms", "12.3 s", "5m 12s", "3h 05m", "2d 04h".
std::string human_us(double us);
/// The same for milliseconds.
std::string human_ms(double ms);
/// "512 B", "12.4 KiB", "3.1 MiB", "1.2 GiB".
std::string human_bytes(double bytes);
/// A rate or count with at most one decimal: "0", "3.5", "1200", "12.3k".
std::string human_number(double value);

/// A duration a person typed: "5s", "500ms", "1.5s", "2m", "1h", or a bare
/// number of seconds. Empty when it is none of these or not positive.
std::optional<uint64_t> parse_duration_ms(const std::string& text);
/// A whole number (digits only, fits 64 bits).
std::optional<uint64_t> parse_whole(const std::string& text);

/// Columns a terminal shows for `text` (UTF-8: one per code point).
size_t display_width(const std::string& text);
/// `text` cut to `width` columns, ending in "…" when it was cut.
std::string ellipsize(const std::string& text, size_t width);

/// Levenshtein distance, for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate closest to `word`, or "" when none is close (more than
/// about a third of the word would have to change).
std::string closest(const std::string& word,
                    const std::vector<std::string>& candidates);

/// Columns of aligned text: numbers right-aligned, one column (the
/// flexible one) cut with an ellipsis when the rows are wider than the
/// terminal.
class table {
public:
  enum class align { left, right };
  struct column {
    std::string title;
    align alignment = align::left;
    /// Cut first when the table is too wide (long actor names, messages).
    bool flexible = false;
  };

  explicit table(std::vector<column> columns);

  void add(std::vector<std::string> row);
  /// Makes column `index` at least `columns` wide, so that tables printed
  /// one after another (a trace's batches) line up.
  void set_width_min(size_t index, size_t columns);
  size_t size() const { return rows_.size(); }

  /// The header and the rows, each line at most `width` columns when the
  /// flexible columns can be cut that far (`width` 0: no limit).
  std::vector<std::string> lines(size_t width) const;
  /// lines() joined, each ending in a newline.
  std::string render(size_t width) const;

private:
  std::vector<column> columns_;
  std::vector<size_t> widths_min_;
  std::vector<std::vector<std::string>> rows_;
};

} // namespace prism::console
