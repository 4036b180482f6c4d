#pragma once

// The console's commands: one table (name, usage, help, what its arguments
// complete to, handler), the way a line is run, and tab completion. The
// REPL, `-c` and the tests all go through run_line().

#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "console/source.hpp"

namespace prism::console {

/// What a command ended with; also `prism console -c`'s exit code.
enum class outcome : int { ok = 0, failed = 1, usage = 2 };

/// What a command's arguments complete to on TAB.
enum class completion {
  none,
  actor, // actor labels (kind:name) and ids
  pool, // backend names of the pools
  ns, // namespace names
  command, // another command (watch, help)
  words, // the command's fixed words (slowlog get|reset|threshold)
};

/// Everything a command runs with: where it reads, where it writes, how it
/// waits. Tests replace `sleep` and `interrupted` to run without waiting.
class context {
public:
  context(source& src, std::ostream& out, std::ostream& err);

  source& src;
  std::ostream& out;
  std::ostream& err;
  /// Print the JSON of the endpoints read instead of tables.
  bool json = false;
  /// Terminal columns the tables fit in (0: no limit).
  size_t width = 0;
  /// True once Ctrl-C was pressed during the current command.
  std::function<bool()> interrupted = [] {
    return false;
  };
  /// Waits `duration` or until interrupted.
  std::function<void(std::chrono::milliseconds)> sleep;
  /// The clock that bounds polling (kill, follow, trace, watch).
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };

  /// GET `path`. With --json, a shown answer's body is printed as it is.
  reply get(const std::string& path, bool shown = true);
  /// POST `path`, printed like get().
  reply post(const std::string& path, bool shown = true);

  /// The error of a reply that is not 2xx, as one sentence.
  std::string failure(const reply& answer, const std::string& method,
                      const std::string& path) const;
  /// Writes "NAME: problem" to err and returns outcome::failed.
  outcome fail(const std::string& name, const std::string& problem);
  /// Writes "NAME: problem" and the usage to err; returns outcome::usage.
  outcome usage(const std::string& name, const std::string& problem);
  /// Text for people: written unless --json.
  std::ostream& text();

private:
  reply shown(reply answer, bool show);
};

using handler = outcome (*)(context&, const std::vector<std::string>& args);

struct command {
  std::string name;
  std::string usage;
  /// One line, for `help`.
  std::string summary;
  /// What it shows, its flags, the endpoint it reads: for `help NAME`.
  std::string details;
  completion completes = completion::none;
  /// The fixed words completion offers (completion::words, flag values).
  std::vector<std::string> words;
  /// Live gateways only (kill, trace, ...): refused on a recorded run.
  bool live_only = false;
  /// Recorded runs only (step, back, goto, mailbox): hidden elsewhere.
  bool recorded_only = false;
  handler run = nullptr;
};

/// Every command, in the order `help` lists them.
const std::vector<command>& commands();

/// The command called `name` that `src` offers, or null.
const command* find_command(const std::string& name, const source& src);

/// Splits a line into words; "double" or 'single' quotes keep spaces.
/// False with `error` when a quote is not closed.
bool split_words(const std::string& line, std::vector<std::string>& words,
                 std::string& error);

/// Runs one line ("top --sort mailbox"); an empty line is ok.
outcome run_line(context& ctx, const std::string& line);

/// Candidates for the word being typed, `line` being everything before it:
/// command names first, then what the command's arguments complete to
/// (actors fetched from the source as they are now).
std::vector<std::string> complete(source& src, const std::string& line,
                                  const std::string& word);

} // namespace prism::console
