#pragma once

// Where the console's commands get their data. Every command is written
// against the admin listener's paths and JSON (docs/ADMIN.md): a live
// gateway answers them over HTTP, a recorded simulation run answers the
// same paths from its trace, as of the step the console stands on. So each
// command renders one shape, whichever the source.

#include <string>

#include <nlohmann/json.hpp>

namespace prism::console {

/// One answer: the HTTP status (0 when no answer came: `error` says why) and
/// the body, parsed when it is JSON (else a string).
struct reply {
  int status = 0;
  nlohmann::json body;
  /// Set when there is no answer at all (connection refused, timeout, a
  /// path the source does not serve): a sentence naming the problem.
  std::string error;

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

class source {
public:
  virtual ~source() = default;

  /// GET `path` (with its query, if any).
  virtual reply get(const std::string& path) = 0;
  /// POST `path`: the mutating endpoints (kill, slowlog reset, log level).
  virtual reply post(const std::string& path) = 0;

  /// What the console is looking at, for its prompt and banners:
  /// "127.0.0.1:8981", or "runs/x step 120 of 5230 at 300 ms".
  virtual std::string describe() const = 0;

  /// True for a recorded run: the console then offers step, back, goto and
  /// mailbox, which it sends as `POST /run/step/N`, `POST /run/back/N`,
  /// `POST /run/goto/STEP` or `POST /run/goto/TIMEms`, and
  /// `GET /run/mailbox/{id}`; and refuses what makes no sense offline (kill,
  /// watch, trace, log level, threshold).
  virtual bool recorded() const { return false; }
};

} // namespace prism::console
