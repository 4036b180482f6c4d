#include "cli/bench_command.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "loadgen/load.hpp"

namespace prism::cli {

namespace {

/// The flags as typed; converted and checked when the subcommand runs, so
/// that every bad value gets the same kind of message and exit status 2.
struct bench_flags {
  std::string target = defaults::grpc_listen;
  std::string rpc = "get";
  std::string ns = "bench";
  std::string concurrency = "1";
  std::string channels = "1";
  std::string duration = "5";
  std::string warmup = "1";
  std::string value_bytes = std::to_string(defaults::bench_value_bytes);
  std::string keys = std::to_string(defaults::bench_keys);
  std::string set_ratio = "0.1";
  std::string rate = "0";
  std::string max_outstanding = std::to_string(defaults::bench_max_outstanding);
  bool json = false;
};

[[noreturn]] void bad_value(const std::string& message) {
  std::cerr << "prism bench: " << message << "\n"
            << "Run 'prism bench --help' for the options.\n";
  throw CLI::RuntimeError(2);
}

uint32_t to_count(const std::string& flag, const std::string& text) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    bad_value(flag + ": expected a whole number, got '" + text + "'");
  return n;
}

double to_number(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || end != text.c_str() + text.size()
      || !std::isfinite(x))
    bad_value(flag + ": expected a number, got '" + text + "'");
  return x;
}

loadgen::options to_options(const bench_flags& f) {
  loadgen::options opt;
  opt.target = f.target;
  auto kind = loadgen::parse_rpc_kind(f.rpc);
  if (!kind)
    bad_value("--rpc: expected get, set or mixed, got '" + f.rpc + "'");
  opt.rpc = *kind;
  opt.ns = f.ns;
  opt.concurrency = to_count("--concurrency", f.concurrency);
  opt.channels = to_count("--channels", f.channels);
  opt.duration_s = to_number("--duration", f.duration);
  opt.warmup_s = to_number("--warmup", f.warmup);
  opt.value_bytes = to_count("--value-bytes", f.value_bytes);
  opt.keys = to_count("--keys", f.keys);
  opt.set_ratio = to_number("--set-ratio", f.set_ratio);
  opt.rate = to_number("--rate", f.rate);
  opt.max_outstanding = to_count("--max-outstanding", f.max_outstanding);
  if (auto problem = loadgen::validate(opt); !problem.empty())
    bad_value(problem);
  return opt;
}

nlohmann::json to_json(const loadgen::options& opt, const loadgen::report& r) {
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [code, count] : r.errors)
    errors[code] = count;
  nlohmann::json out = {
    {"target", opt.target},
    {"rpc", loadgen::to_string(opt.rpc)},
    {"namespace", opt.ns},
    {"concurrency", opt.concurrency},
    {"channels", opt.channels},
    {"duration_s", opt.duration_s},
    {"warmup_s", opt.warmup_s},
    {"value_bytes", opt.value_bytes},
    {"keys", opt.keys},
    {"set_ratio",
     opt.rpc == loadgen::rpc_kind::mixed   ? opt.set_ratio
       : opt.rpc == loadgen::rpc_kind::set ? 1.0
                                           : 0.0},
    {"requests", r.requests},
    {"errors", errors},
    {"error_count", r.error_count()},
    {"warmup_errors", r.warmup_errors},
    {"first_error", r.first_error},
    {"misses", r.misses},
    {"seconds", r.seconds},
    {"rps", r.rps},
    {"p50_us", r.p50_us},
    {"p90_us", r.p90_us},
    {"p99_us", r.p99_us},
    {"max_us", r.max_us},
  };
  if (r.open_loop) {
    out["mode"] = "open";
    out["rate"] = opt.rate;
    out["max_outstanding"] = opt.max_outstanding;
    out["offered"] = r.offered;
    out["offered_rps"] = r.offered_rps;
    out["sent"] = r.sent;
    out["client_dropped"] = r.client_dropped;
    out["client_behind"] = r.client_behind;
    out["rejected"] = r.rejected;
    out["rejected_rps"] = r.rejected_rps;
    out["retry_hints"] = r.retry_hints;
    out["other_error_count"] = r.other_error_count();
    out["rejected_p50_us"] = r.rejected_p50_us;
    out["rejected_p99_us"] = r.rejected_p99_us;
    out["rejected_max_us"] = r.rejected_max_us;
    out["send_lag_p50_us"] = r.send_lag_p50_us;
    out["send_lag_p99_us"] = r.send_lag_p99_us;
    out["send_lag_max_us"] = r.send_lag_max_us;
  }
  return out;
}

std::string fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

void print_text(const loadgen::options& opt, const loadgen::report& r) {
  std::ostringstream out;
  out << "target       " << opt.target << ", namespace '" << opt.ns << "'\n"
      << "load         " << loadgen::to_string(opt.rpc);
  if (opt.rpc == loadgen::rpc_kind::mixed)
    out << " (" << fixed(opt.set_ratio * 100, 1) << " % Set)";
  out << ", " << opt.concurrency << " outstanding over " << opt.channels
      << (opt.channels == 1 ? " channel" : " channels") << ", "
      << opt.value_bytes << " B values, " << opt.keys << " keys\n"
      << "time         " << fixed(r.seconds, 1) << " s measured after "
      << fixed(opt.warmup_s, 1) << " s warmup\n"
      << "requests     " << r.requests << " OK, " << fixed(r.rps, 0)
      << " req/s\n"
      << "latency µs   p50 " << fixed(r.p50_us, 1) << "  p90 "
      << fixed(r.p90_us, 1) << "  p99 " << fixed(r.p99_us, 1) << "  max "
      << fixed(r.max_us, 1) << "\n"
      << "errors       ";
  if (r.error_count() == 0) {
    out << "none";
  } else {
    const char* sep = "";
    for (const auto& [code, count] : r.errors) {
      out << sep << code << " " << count;
      sep = ", ";
    }
    if (r.warmup_errors > 0)
      out << sep << r.warmup_errors << " during warmup";
    out << "\n             first: " << r.first_error;
  }
  out << "\n";
  if (r.misses > 0)
    out << "misses       " << r.misses
        << " Gets found no value although every key was written first\n";
  std::cout << out.str() << std::flush;
}

void print_open_loop_text(const loadgen::options& opt,
                          const loadgen::report& r) {
  std::ostringstream out;
  out << "target       " << opt.target << ", namespace '" << opt.ns << "'\n"
      << "load         " << loadgen::to_string(opt.rpc);
  if (opt.rpc == loadgen::rpc_kind::mixed)
    out << " (" << fixed(opt.set_ratio * 100, 1) << " % Set)";
  out << ", open loop at " << fixed(opt.rate, 0) << " calls/s over "
      << opt.channels << (opt.channels == 1 ? " channel" : " channels")
      << ", at most " << opt.max_outstanding << " outstanding, "
      << opt.value_bytes << " B values, " << opt.keys << " keys\n"
      << "time         " << fixed(r.seconds, 1) << " s measured after "
      << fixed(opt.warmup_s, 1) << " s warmup\n"
      << "offered      " << r.offered << " calls, " << fixed(r.offered_rps, 0)
      << " calls/s (sent " << r.sent << ", client_dropped " << r.client_dropped
      << ", client_behind " << r.client_behind << ")\n"
      << "send lag µs  p50 " << fixed(r.send_lag_p50_us, 1) << "  p99 "
      << fixed(r.send_lag_p99_us, 1) << "  max " << fixed(r.send_lag_max_us, 1)
      << "\n"
      << "requests     " << r.requests << " OK, " << fixed(r.rps, 0)
      << " req/s\n"
      << "latency µs   p50 " << fixed(r.p50_us, 1) << "  p90 "
      << fixed(r.p90_us, 1) << "  p99 " << fixed(r.p99_us, 1) << "  max "
      << fixed(r.max_us, 1) << "\n"
      << "rejected     " << r.rejected << " RESOURCE_EXHAUSTED, "
      << fixed(r.rejected_rps, 0) << " req/s, " << r.retry_hints
      << " with x-prism-retry-after-ms\n"
      << "rejected µs  p50 " << fixed(r.rejected_p50_us, 1) << "  p99 "
      << fixed(r.rejected_p99_us, 1) << "  max " << fixed(r.rejected_max_us, 1)
      << "\n"
      << "errors       ";
  if (r.other_error_count() == 0) {
    out << "none";
  } else {
    const char* sep = "";
    for (const auto& [code, count] : r.errors) {
      if (code == "RESOURCE_EXHAUSTED")
        continue;
      out << sep << code << " " << count;
      sep = ", ";
    }
    if (r.warmup_errors > 0)
      out << sep << r.warmup_errors << " during warmup";
  }
  if (!r.first_error.empty())
    out << "\n             first: " << r.first_error;
  out << "\n";
  if (r.misses > 0)
    out << "misses       " << r.misses
        << " Gets found no value although every key was written first\n";
  std::cout << out.str() << std::flush;
}

/// The open loop expects refusals: it fails only on other errors.
void check_open_loop(const loadgen::report& r) {
  if (r.other_error_count() > 0 || r.misses > 0) {
    std::cerr << "prism bench: " << r.other_error_count()
              << " calls failed with a status other than RESOURCE_EXHAUSTED";
    if (r.misses > 0)
      std::cerr << ", " << r.misses << " Gets missed";
    if (!r.first_error.empty())
      std::cerr << " (first: " << r.first_error << ")";
    std::cerr << "\n";
    throw CLI::RuntimeError(1);
  }
  if (r.requests == 0) {
    std::cerr
      << "prism bench: no call due in the measured window completed OK\n";
    throw CLI::RuntimeError(1);
  }
}

void run_bench(const bench_flags& flags) {
  auto opt = to_options(flags);
  loadgen::report r;
  try {
    r = loadgen::run(opt);
  } catch (const std::exception& e) {
    std::cerr << "prism bench: " << e.what() << "\n";
    throw CLI::RuntimeError(1);
  }
  if (flags.json)
    std::cout << to_json(opt, r).dump() << std::endl;
  else if (r.open_loop)
    print_open_loop_text(opt, r);
  else
    print_text(opt, r);
  if (r.open_loop) {
    check_open_loop(r);
    return;
  }
  if (r.error_count() > 0 || r.misses > 0) {
    std::cerr << "prism bench: " << r.error_count() << " calls failed";
    if (r.misses > 0)
      std::cerr << ", " << r.misses << " Gets missed";
    if (!r.first_error.empty())
      std::cerr << " (first: " << r.first_error << ")";
    std::cerr << "\n";
    throw CLI::RuntimeError(1);
  }
  if (r.requests == 0) {
    std::cerr << "prism bench: no call completed within the measured window\n";
    throw CLI::RuntimeError(1);
  }
}

} // namespace

void add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<bench_flags>();
  auto* cmd = app.add_subcommand(
    "bench",
    "Measure throughput and latency of a KeyValue server (the gateway or "
    "prism-baseline)");
  cmd->footer(
    "Keeps --concurrency calls outstanding for --warmup + --duration seconds "
    "and reports requests/s and latency percentiles of the calls completed "
    "after the warmup. Before a get or mixed run it writes every key once. "
    "Exits 0 when every call succeeded, 1 when the run failed or any call "
    "did (the report shows them by status code), 2 for bad options.\n\n"
    "With --rate R > 0 it runs an open loop instead: R calls per second in "
    "total, spread evenly over the channels on a fixed timetable whatever the "
    "answers, so an overloaded server meets the same offered load. A call due "
    "while --max-outstanding calls are in flight is not sent and counted as "
    "client_dropped; calls due before the measured window ends that the client "
    "did not reach in time count as client_behind. The window holds the calls "
    "due in it, each followed to its answer; the report adds the offered rate, "
    "RESOURCE_EXHAUSTED refusals (rate, latency, how many carried "
    "x-prism-retry-after-ms) and how late the client sent. --concurrency then "
    "only sets the preload's parallelism. Refusals are expected: the open "
    "loop exits 1 only when a call failed with another status, a Get missed "
    "or no call completed OK.");
  cmd->add_option("--target", flags->target, "Server to load, HOST:PORT")
    ->type_name("HOST:PORT")
    ->capture_default_str();
  cmd
    ->add_option("--rpc", flags->rpc,
                 "What to call: get, set, or mixed (Set with probability "
                 "--set-ratio, Get otherwise)")
    ->type_name("get|set|mixed")
    ->capture_default_str();
  cmd->add_option("--namespace", flags->ns, "Namespace every request addresses")
    ->type_name("NAME")
    ->capture_default_str();
  cmd
    ->add_option("--concurrency", flags->concurrency,
                 "Calls outstanding at once, in total over all channels "
                 "(1.."
                   + std::to_string(loadgen::concurrency_max) + ")")
    ->type_name("N")
    ->capture_default_str();
  cmd
    ->add_option("--channels", flags->channels,
                 "Separate TCP connections; the outstanding calls are split "
                 "evenly across them (1..--concurrency in the closed loop)")
    ->type_name("N")
    ->capture_default_str();
  cmd
    ->add_option("--duration", flags->duration,
                 "Seconds to measure, after the warmup")
    ->type_name("SECONDS")
    ->capture_default_str();
  cmd
    ->add_option("--warmup", flags->warmup,
                 "Seconds under load before measuring starts")
    ->type_name("SECONDS")
    ->capture_default_str();
  cmd
    ->add_option("--value-bytes", flags->value_bytes,
                 "Size of each value written, in bytes (0.."
                   + std::to_string(loadgen::value_bytes_max) + ")")
    ->type_name("BYTES")
    ->capture_default_str();
  cmd
    ->add_option("--keys", flags->keys,
                 "Size of the keyspace; keys are bench-0 .. bench-<N-1>, "
                 "each call picks one at random")
    ->type_name("N")
    ->capture_default_str();
  cmd
    ->add_option("--set-ratio", flags->set_ratio,
                 "Share of Sets in a mixed run, 0..1")
    ->type_name("RATIO")
    ->capture_default_str();
  cmd
    ->add_option("--rate", flags->rate,
                 "Open loop: calls per second in total over all channels, "
                 "sent on a fixed timetable whatever the answers; 0 keeps "
                 "--concurrency calls outstanding instead (closed loop)")
    ->type_name("CALLS/S")
    ->capture_default_str();
  cmd
    ->add_option("--max-outstanding", flags->max_outstanding,
                 "Open loop: most calls in flight at once; calls due beyond "
                 "it are not sent and counted as client_dropped (1.."
                   + std::to_string(loadgen::max_outstanding_max) + ")")
    ->type_name("N")
    ->capture_default_str();
  cmd->add_flag("--json", flags->json,
                "Print the report as one JSON line (options, requests, errors "
                "by status code, rps, p50_us, p90_us, p99_us, max_us; with "
                "--rate also mode, rate, offered, offered_rps, sent, "
                "client_dropped, client_behind, rejected, rejected_rps, "
                "retry_hints, other_error_count, rejected_p50_us, "
                "rejected_p99_us, rejected_max_us, send_lag_p50_us, "
                "send_lag_p99_us, send_lag_max_us)");
  cmd->callback([flags] { run_bench(*flags); });
}

} // namespace prism::cli
