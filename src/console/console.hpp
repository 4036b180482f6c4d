#pragma once

// `prism console`: runs one command (-c) or the interactive prompt on a
// source (a live gateway or a recorded run).

#include <string>

#include "console/source.hpp"

namespace prism::console {

struct console_options {
  /// Run this one line and exit (prism console -c "top").
  std::string command;
  /// Print the JSON the commands read instead of tables.
  bool json = false;
};

/// The history file's name in the user's home directory, and its bound.
inline constexpr const char* history_file_name = ".prism_console_history";
inline constexpr int history_lines_max = 1000;

/// Runs the console; returns the process's exit code: 0, 1 when the
/// command failed, 2 for a usage error (with -c, and the worst of the
/// commands piped in one a line; the interactive prompt exits 0).
int run_console(source& src, const console_options& options);

} // namespace prism::console
