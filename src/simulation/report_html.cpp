#include "simulation/report_html.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "simulation/report.hpp"

namespace prism::simulation {

namespace {

// --- Layout and colours ------------------------------------------------

/// Every plot has this size in CSS pixels; the page is a little wider.
constexpr double plot_width_px = 900;
/// The height of a plot's data area; the plot adds its fault labels'
/// rows above and its x axis below.
constexpr double plot_area_height_px = 220;
constexpr double margin_left_px = 68;
constexpr double margin_right_px = 16;
/// Room above the rows of fault labels.
constexpr double margin_top_px = 10;
constexpr double margin_bottom_px = 42;
constexpr double fault_label_row_px = 13;
/// Rows of fault labels at most; past them, labels overlap.
constexpr size_t fault_label_rows_max = 8;
/// The width of a character of a fault label, a little generous.
constexpr double label_char_px = 6;
/// Buckets of the throughput and latency plots, at most.
constexpr int64_t buckets_max = 120;
constexpr int x_ticks_target = 10;
constexpr int y_ticks_target = 5;
/// The y axis reaches a little above the highest value.
constexpr double headroom = 1.04;

/// Okabe and Ito's palette, safe for the common colour-vision deficiencies;
/// each series also gets its own dash pattern, so a grey print tells them
/// apart too.
constexpr std::array<std::string_view, 7> palette = {
  "#0072B2", "#D55E00", "#E69F00", "#CC79A7", "#009E73", "#56B4E9", "#000000"};
constexpr std::array<std::string_view, 7> dashes
  = {"", "6 3", "2 2", "8 3 2 3", "4 4", "1 3", "10 4"};

constexpr std::string_view style_sheet = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
  sans-serif; color: #1a1a1a; background: #fff; margin: 24px auto;
  max-width: 920px; padding: 0 10px; font-size: 14px; line-height: 1.4; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid #ccc; }
p.description { margin: 0 0 12px; color: #333; }
dl.facts { display: grid; grid-template-columns: max-content 1fr;
  gap: 3px 16px; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
code { font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: 12.5px; background: #f3f3f3; padding: 1px 4px;
  overflow-wrap: anywhere; }
.verdict { font-weight: 700; padding: 1px 8px; border-radius: 3px;
  color: #fff; }
.held { background: #0072B2; }
.failed { background: #D55E00; }
.other { background: #666; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 4px 6px;
  border-bottom: 1px solid #ddd; overflow-wrap: anywhere; }
th { background: #f3f3f3; white-space: nowrap; }
td:nth-child(-n+2) { white-space: nowrap; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12.5px;
  margin: 2px 0 4px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
figure { margin: 0; }
figcaption { font-size: 12.5px; color: #444; }
svg.plot { display: block; width: 100%; height: auto; }
svg text { font-family: system-ui, Helvetica, Arial, sans-serif; }
section { break-inside: avoid; page-break-inside: avoid; }
@media print {
  body { margin: 0; max-width: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)";

// --- Text and numbers --------------------------------------------------

/// A coordinate or value with at most one decimal, the same on every run.
std::string number(double v) {
  if (std::abs(v - std::round(v)) < 1e-9)
    return std::to_string(static_cast<int64_t>(std::llround(v)));
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.1f", v);
  return text.data();
}

/// A step of 1, 2 or 5 times a power of ten giving about `target` steps
/// over `range`.
double nice_step(double range, int target) {
  if (range <= 0)
    return 1;
  double raw = range / target;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * power)
      return m * power;
  return 10 * power;
}

/// The bucket width: a round number of ms giving at most buckets_max.
int64_t bucket_width_ms(int64_t t_max_ms) {
  for (int64_t w : {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000,
                    5000, 10000, 20000, 50000, 100000})
    if (t_max_ms / w < buckets_max)
      return w;
  return t_max_ms / buckets_max + 1;
}

std::string kind_name(const planned_fault& f) {
  return std::string(info_of(f.spec.kind).name);
}

// --- The axes and the fault overlay ------------------------------------

/// Maps virtual ms and a value to a plot's pixels.
struct plot_frame {
  int64_t t_max_ms = 1;
  double y_max = 1;

  double left() const { return margin_left_px; }
  double right() const { return plot_width_px - margin_right_px; }
  size_t label_rows = 1;

  double top() const {
    return margin_top_px + fault_label_row_px * static_cast<double>(label_rows);
  }
  double bottom() const { return top() + plot_area_height_px; }
  double height() const { return bottom() + margin_bottom_px; }
  double x(double t_ms) const {
    return left() + (right() - left()) * t_ms / static_cast<double>(t_max_ms);
  }
  double y(double v) const { return bottom() - (bottom() - top()) * v / y_max; }
};

std::string svg_open(const plot_frame& p, const std::string& label) {
  return "<svg class=\"plot\" viewBox=\"0 0 " + number(plot_width_px) + " "
    + number(p.height()) + "\" width=\"" + number(plot_width_px)
    + "\" height=\"" + number(p.height()) + "\" role=\"img\" aria-label=\""
    + html_escape(label) + "\">\n";
}

/// Grid lines, ticks and labels of both axes; `y_step` 0 picks one, a
/// negative one leaves the y axis without a scale.
std::string axes(const plot_frame& p, const std::string& y_label,
                 double y_step = 0) {
  std::string out;
  auto line
    = [&](double x1, double y1, double x2, double y2, std::string_view stroke) {
        out += "<line x1=\"" + number(x1) + "\" y1=\"" + number(y1) + "\" x2=\""
          + number(x2) + "\" y2=\"" + number(y2) + "\" stroke=\""
          + std::string(stroke) + "\" stroke-width=\"1\"/>\n";
      };
  auto text = [&](double x, double y, std::string_view anchor,
                  const std::string& s, const std::string& extra = "") {
    out += "<text x=\"" + number(x) + "\" y=\"" + number(y)
      + "\" font-size=\"11\" text-anchor=\"" + std::string(anchor) + "\""
      + extra + ">" + html_escape(s) + "</text>\n";
  };
  if (y_step == 0)
    y_step = nice_step(p.y_max, y_ticks_target);
  for (double v = 0; y_step > 0 && v <= p.y_max + 1e-9; v += y_step) {
    line(p.left(), p.y(v), p.right(), p.y(v), "#e4e4e4");
    line(p.left() - 4, p.y(v), p.left(), p.y(v), "#333");
    text(p.left() - 7, p.y(v) + 4, "end", number(v));
  }
  double t_step = nice_step(static_cast<double>(p.t_max_ms), x_ticks_target);
  for (double t = 0; t <= static_cast<double>(p.t_max_ms) + 1e-9; t += t_step) {
    line(p.x(t), p.bottom(), p.x(t), p.bottom() + 4, "#333");
    text(p.x(t), p.bottom() + 16, "middle", number(t));
  }
  line(p.left(), p.top(), p.left(), p.bottom(), "#333");
  line(p.left(), p.bottom(), p.right(), p.bottom(), "#333");
  text((p.left() + p.right()) / 2, p.height() - 6, "middle",
       "virtual time (ms)");
  double mid = (p.top() + p.bottom()) / 2;
  text(16, mid, "middle", y_label,
       " transform=\"rotate(-90 16 " + number(mid) + ")\"");
  return out;
}

/// The shaded window of every fault that lasts (one rect each, drawn under
/// the data) or the line of an instant one.
std::string fault_shading(const plot_frame& p,
                          const std::vector<planned_fault>& faults) {
  std::string out;
  for (auto& f : faults) {
    auto at = static_cast<double>(std::min(f.spec.at_ms, p.t_max_ms));
    std::string title
      = "<title>" + html_escape(f.id + " " + kind_name(f)) + "</title>";
    if (f.spec.duration_ms > 0) {
      auto end = static_cast<double>(std::min(f.spec.end_ms(), p.t_max_ms));
      out += "<rect class=\"fault-window\" data-fault=\"" + html_escape(f.id)
        + "\" x=\"" + number(p.x(at)) + "\" y=\"" + number(p.top())
        + "\" width=\"" + number(std::max(p.x(end) - p.x(at), 1.0))
        + "\" height=\"" + number(p.bottom() - p.top())
        + "\" fill=\"#8c8c8c\" fill-opacity=\"0.2\" stroke=\"#6e6e6e\" "
          "stroke-opacity=\"0.6\" stroke-dasharray=\"3 2\">"
        + title + "</rect>\n";
    } else {
      out += "<line class=\"fault-instant\" data-fault=\"" + html_escape(f.id)
        + "\" x1=\"" + number(p.x(at)) + "\" y1=\"" + number(p.top())
        + "\" x2=\"" + number(p.x(at)) + "\" y2=\"" + number(p.bottom())
        + "\" stroke=\"#555\" stroke-width=\"1.5\" "
          "stroke-dasharray=\"4 3\">"
        + title + "</line>\n";
    }
  }
  return out;
}

/// Where a fault's label goes: its text, row (0 just above the plot area)
/// and side of the fault's line.
struct placed_label {
  const planned_fault* fault = nullptr;
  double x = 0;
  std::string text;
  std::string full;
  size_t row = 0;
  bool left_aligned = true;
};

/// Each fault's id, kind and target, in the first row where it does not
/// run into the label before it; when none has room, the id alone (the
/// fault table has the rest). Depends only on the x scale.
std::vector<placed_label> place_fault_labels(
  const plot_frame& p, const std::vector<planned_fault>& faults) {
  std::vector<const planned_fault*> by_time;
  for (auto& f : faults)
    by_time.push_back(&f);
  std::stable_sort(by_time.begin(), by_time.end(), [](auto* a, auto* b) {
    return a->spec.at_ms < b->spec.at_ms;
  });
  std::array<double, fault_label_rows_max> row_end{};
  row_end.fill(-1e9);
  std::vector<placed_label> placed;
  for (auto* f : by_time) {
    placed_label l;
    l.fault = f;
    l.x = p.x(static_cast<double>(std::min(f->spec.at_ms, p.t_max_ms)));
    l.full = f->id + " " + kind_name(*f)
      + (f->spec.target.empty() ? "" : " " + f->spec.target);
    // Left-aligned at the fault, or right-aligned when it would run off.
    auto extent = [&](const std::string& text) {
      double width = static_cast<double>(text.size()) * label_char_px + 4;
      return l.x + width > plot_width_px ? std::pair{l.x - width, l.x}
                                         : std::pair{l.x, l.x + width};
    };
    l.row = fault_label_rows_max;
    for (auto& candidate : {l.full, f->id}) {
      for (size_t r = 0; r < fault_label_rows_max; ++r)
        if (row_end[r] + 3 <= extent(candidate).first) {
          l.row = r;
          l.text = candidate;
          break;
        }
      if (l.row != fault_label_rows_max)
        break;
    }
    if (l.row == fault_label_rows_max) {
      l.text = f->id;
      l.row = static_cast<size_t>(
        std::min_element(row_end.begin(), row_end.end()) - row_end.begin());
    }
    auto [from, to] = extent(l.text);
    row_end[l.row] = to;
    l.left_aligned = from == l.x;
    placed.push_back(std::move(l));
  }
  return placed;
}

/// A frame whose top leaves room for the fault labels.
plot_frame make_frame(const run_report& r, int64_t t_max_ms, double y_max) {
  plot_frame p{t_max_ms, y_max};
  for (auto& l : place_fault_labels(p, r.faults))
    p.label_rows = std::max(p.label_rows, l.row + 1);
  return p;
}

/// The fault labels above the plot area, each with a stem down to it.
std::string fault_labels(const plot_frame& p,
                         const std::vector<planned_fault>& faults) {
  std::string out;
  for (auto& l : place_fault_labels(p, faults)) {
    double y = p.top() - 4 - fault_label_row_px * static_cast<double>(l.row);
    out += "<line x1=\"" + number(l.x) + "\" y1=\"" + number(y + 2) + "\" x2=\""
      + number(l.x) + "\" y2=\"" + number(p.top())
      + "\" stroke=\"#6e6e6e\" stroke-width=\"1\"/>\n";
    out += "<text x=\"" + number(l.x + (l.left_aligned ? 2 : -2)) + "\" y=\""
      + number(y) + "\" font-size=\"10.5\" fill=\"#333\" " + "text-anchor=\""
      + (l.left_aligned ? "start" : "end") + "\">" + html_escape(l.text)
      + "<title>" + html_escape(l.full) + "</title></text>\n";
  }
  return out;
}

/// A polyline through the points of a series; NaN values break it.
std::string series_path(const plot_frame& p,
                        const std::vector<std::pair<double, double>>& points,
                        size_t style, double width = 1.8) {
  std::string d;
  bool pen_down = false;
  for (auto& [t, v] : points) {
    if (std::isnan(v)) {
      pen_down = false;
      continue;
    }
    d += (pen_down ? " L" : " M") + number(p.x(t)) + " " + number(p.y(v));
    pen_down = true;
  }
  std::string dash(dashes[style % dashes.size()]);
  return "<path d=\"" + d.substr(d.empty() ? 0 : 1)
    + "\" fill=\"none\" stroke=\""
    + std::string(palette[style % palette.size()]) + "\" stroke-width=\""
    + number(width) + "\" stroke-linejoin=\"round\""
    + (dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"") + "/>\n";
}

std::string legend_entry(size_t style, const std::string& label) {
  std::string dash(dashes[style % dashes.size()]);
  return "<span><svg width=\"26\" height=\"10\" aria-hidden=\"true\">"
         "<line x1=\"1\" y1=\"5\" x2=\"25\" y2=\"5\" stroke=\""
    + std::string(palette[style % palette.size()]) + "\" stroke-width=\"2.2\""
    + (dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"") + "/></svg>"
    + html_escape(label) + "</span>";
}

std::string legend_faults(const std::vector<planned_fault>& faults) {
  bool window = false;
  bool instant = false;
  for (auto& f : faults)
    (f.spec.duration_ms > 0 ? window : instant) = true;
  std::string out;
  if (window)
    out += "<span><svg width=\"18\" height=\"12\" aria-hidden=\"true\">"
           "<rect x=\"1\" y=\"1\" width=\"16\" height=\"10\" fill=\"#8c8c8c\" "
           "fill-opacity=\"0.2\" stroke=\"#6e6e6e\" stroke-dasharray=\"3 2\"/>"
           "</svg>fault window</span>";
  if (instant)
    out += "<span><svg width=\"18\" height=\"12\" aria-hidden=\"true\">"
           "<line x1=\"9\" y1=\"0\" x2=\"9\" y2=\"12\" stroke=\"#555\" "
           "stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>"
           "</svg>instant fault</span>";
  return out;
}

// --- What the plots show -----------------------------------------------

/// The workload's calls (final reads left out).
std::vector<const kv_operation*> workload_calls(const run_report& r) {
  std::vector<const kv_operation*> calls;
  for (auto& op : r.ops)
    if (!op.final_read)
      calls.push_back(&op);
  return calls;
}

/// The end of the time axis: the last call or answer of the workload, or
/// the last fault's end, whichever is later.
int64_t time_axis_end_ms(const run_report& r) {
  int64_t end = 1;
  for (auto* op : workload_calls(r))
    end = std::max({end, op->invoke_ms, op->answered() ? op->complete_ms : 0});
  for (auto& f : r.faults)
    end = std::max(end, f.spec.end_ms());
  return end;
}

/// One actor that exited, or a new incarnation of one that had run before.
struct lifecycle_event {
  int64_t t_ms = 0;
  std::string actor;
  bool exit = false;
  std::string reason;
};

/// "connection:disk#0#2" -> "connection".
std::string actor_kind(const std::string& label) {
  return label.substr(0, label.find_first_of(":#"));
}

/// A label without its incarnation suffix ("#2"), or itself.
std::string first_incarnation(const std::string& label) {
  auto hash = label.rfind('#');
  if (hash == std::string::npos || hash + 1 == label.size())
    return label;
  for (size_t i = hash + 1; i < label.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(label[i])))
      return label;
  return label.substr(0, hash);
}

/// From the trace: "advance ... now=Nms" moves the clock, "exit LABEL
/// REASON" is an actor ending, and "run LABEL (start)" of a label whose
/// earlier incarnation ran is a restart.
std::vector<lifecycle_event> lifecycle(const run_report& r) {
  std::vector<lifecycle_event> events;
  std::set<std::string> seen;
  int64_t t_ms = 0;
  for (auto& line : r.trace) {
    if (line.rfind("advance ", 0) == 0) {
      auto at = line.find(" now=");
      if (at != std::string::npos)
        t_ms = std::stoll(line.substr(at + 5));
      continue;
    }
    bool exit = line.rfind("exit ", 0) == 0;
    if (!exit && line.rfind("run ", 0) != 0)
      continue;
    auto begin = line.find(' ') + 1;
    auto space = line.find(' ', begin);
    auto label = line.substr(begin, space - begin);
    auto rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (exit) {
      events.push_back({t_ms, label, true, rest});
    } else if (rest == "(start)") {
      auto base = first_incarnation(label);
      if (base != label && seen.count(base) > 0)
        events.push_back({t_ms, label, false, ""});
    }
    seen.insert(label);
  }
  return events;
}

// --- The three plots ----------------------------------------------------

std::string throughput_plot(const run_report& r, int64_t t_max_ms) {
  int64_t width = bucket_width_ms(t_max_ms);
  auto buckets = static_cast<size_t>(t_max_ms / width + 1);
  std::map<std::string, std::vector<double>> by_code;
  by_code["OK"].assign(buckets, 0);
  for (auto* op : workload_calls(r)) {
    if (!op->answered())
      continue;
    auto& counts = by_code[std::string(to_string(*op->code))];
    counts.resize(buckets, 0);
    counts[static_cast<size_t>(op->complete_ms / width)] += 1;
  }
  // OK first, then the errors by name.
  std::vector<std::string> order = {"OK"};
  for (auto& [code, counts] : by_code)
    if (code != "OK")
      order.push_back(code);
  double y_max = 1;
  for (auto& [code, counts] : by_code)
    y_max = std::max(y_max, *std::max_element(counts.begin(), counts.end()));
  // Counts and virtual ms are whole numbers.
  double step = std::max(1.0, nice_step(y_max, y_ticks_target));
  auto p = make_frame(r, t_max_ms, std::ceil(y_max * headroom / step) * step);

  std::string legend;
  std::string lines;
  for (size_t i = 0; i < order.size(); ++i) {
    std::vector<std::pair<double, double>> points;
    auto& counts = by_code[order[i]];
    for (size_t b = 0; b < buckets; ++b)
      points.emplace_back(static_cast<double>(b) * width + width / 2.0,
                          counts[b]);
    lines += series_path(p, points, i);
    legend += legend_entry(i, order[i]);
  }
  return "<section><h2>Calls answered over virtual time</h2>"
         "<div class=\"legend\">"
    + legend + legend_faults(r.faults) + "</div><figure>"
    + svg_open(p, "calls answered per " + std::to_string(width) + " ms by code")
    + axes(p, "calls answered per " + std::to_string(width) + " ms", step)
    + fault_shading(p, r.faults) + lines + fault_labels(p, r.faults)
    + "</svg><figcaption>Workload calls (final reads left out) by the virtual "
      "time of their answer, in buckets of "
    + std::to_string(width) + " ms, one line per gRPC code.</figcaption>"
    + "</figure></section>\n";
}

/// PubSub runs: publishes acknowledged and messages delivered per bucket.
std::string pubsub_plot(const run_report& r, int64_t t_max_ms) {
  int64_t width = bucket_width_ms(t_max_ms);
  auto buckets = static_cast<size_t>(t_max_ms / width + 1);
  std::vector<double> published(buckets, 0);
  std::vector<double> delivered(buckets, 0);
  for (auto& op : r.ops)
    if (op.f == op_function::publish && op.code == status_code::ok
        && op.complete_ms <= t_max_ms)
      published[static_cast<size_t>(op.complete_ms / width)] += 1;
  for (auto& d : r.deliveries)
    if (d.time_ms <= t_max_ms)
      delivered[static_cast<size_t>(d.time_ms / width)] += 1;
  double y_max = 1;
  for (auto* series : {&published, &delivered})
    y_max = std::max(y_max, *std::max_element(series->begin(), series->end()));
  double step = std::max(1.0, nice_step(y_max, y_ticks_target));
  auto p = make_frame(r, t_max_ms, std::ceil(y_max * headroom / step) * step);
  std::string lines;
  std::string legend;
  const std::pair<const char*, const std::vector<double>*> series[] = {
    {"publishes acknowledged", &published}, {"messages delivered", &delivered}};
  for (size_t i = 0; i < 2; ++i) {
    std::vector<std::pair<double, double>> points;
    for (size_t b = 0; b < buckets; ++b)
      points.emplace_back(static_cast<double>(b) * width + width / 2.0,
                          (*series[i].second)[b]);
    lines += series_path(p, points, i);
    legend += legend_entry(i, series[i].first);
  }
  auto per = "per " + std::to_string(width) + " ms";
  return "<section><h2>Publishes and deliveries over virtual time</h2>"
         "<div class=\"legend\">"
    + legend + legend_faults(r.faults) + "</div><figure>"
    + svg_open(p, "publishes and deliveries " + per)
    + axes(p, "messages " + per, step) + fault_shading(p, r.faults) + lines
    + fault_labels(p, r.faults)
    + "</svg><figcaption>Publishes answered OK by the time of their answer, "
      "and messages written to subscriber streams (every subscriber counts, "
      "redeliveries too), in buckets of "
    + std::to_string(width) + " ms.</figcaption></figure></section>\n";
}

/// The value below which `share` of the sorted values fall.
double percentile(const std::vector<int64_t>& sorted, double share) {
  auto rank = static_cast<size_t>(
    std::ceil(share * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<size_t>(rank, 1) - 1]);
}

std::string latency_plot(const run_report& r, int64_t t_max_ms) {
  int64_t width = bucket_width_ms(t_max_ms);
  auto buckets = static_cast<size_t>(t_max_ms / width + 1);
  std::vector<std::vector<int64_t>> latencies(buckets);
  for (auto* op : workload_calls(r))
    if (op->answered())
      latencies[static_cast<size_t>(op->complete_ms / width)].push_back(
        op->complete_ms - op->invoke_ms);
  const std::array<std::pair<const char*, double>, 3> series
    = {{{"p50", 0.5}, {"p99", 0.99}, {"max", 1.0}}};
  std::array<std::vector<std::pair<double, double>>, 3> points;
  double y_max = 1;
  for (size_t b = 0; b < buckets; ++b) {
    auto& sorted = latencies[b];
    std::sort(sorted.begin(), sorted.end());
    double t = static_cast<double>(b) * width + width / 2.0;
    for (size_t s = 0; s < series.size(); ++s) {
      double v = sorted.empty() ? std::nan("")
                                : percentile(sorted, series[s].second);
      points[s].emplace_back(t, v);
      if (!sorted.empty())
        y_max = std::max(y_max, v);
    }
  }
  // Counts and virtual ms are whole numbers.
  double step = std::max(1.0, nice_step(y_max, y_ticks_target));
  auto p = make_frame(r, t_max_ms, std::ceil(y_max * headroom / step) * step);
  std::string legend;
  std::string lines;
  // Widest last, so the median is drawn on top.
  for (size_t s = series.size(); s-- > 0;)
    lines += series_path(p, points[s],
                         s == 0     ? 0
                           : s == 1 ? 1
                                    : 4,
                         s == 0 ? 2.2 : 1.6);
  for (size_t s = 0; s < series.size(); ++s)
    legend += legend_entry(s == 0 ? 0 : s == 1 ? 1 : 4, series[s].first);
  return "<section><h2>Latency over virtual time</h2><div class=\"legend\">"
    + legend + legend_faults(r.faults) + "</div><figure>"
    + svg_open(p, "latency per " + std::to_string(width) + " ms bucket")
    + axes(p, "latency (virtual ms)", step) + fault_shading(p, r.faults) + lines
    + fault_labels(p, r.faults)
    + "</svg><figcaption>Latency (answer minus call, in virtual ms) of the "
      "calls answered in each bucket of "
    + std::to_string(width)
    + " ms: median, 99th percentile and maximum; gaps are buckets without "
      "answers.</figcaption></figure></section>\n";
}

/// Lanes of actor kinds; a cross where an actor exited, a circle where a
/// new incarnation of one started.
/// The kinds of the actors in `events`: the gateway's layers top to
/// bottom, then anything else by name.
std::vector<std::string> lifecycle_lanes(
  const std::vector<lifecycle_event>& events) {
  std::vector<std::string> lanes;
  for (auto kind : {"session", "stage", "router", "pool", "connection"})
    for (auto& e : events)
      if (actor_kind(e.actor) == kind) {
        lanes.emplace_back(kind);
        break;
      }
  std::set<std::string> others;
  for (auto& e : events)
    if (std::find(lanes.begin(), lanes.end(), actor_kind(e.actor))
        == lanes.end())
      others.insert(actor_kind(e.actor));
  lanes.insert(lanes.end(), others.begin(), others.end());
  return lanes;
}

/// A cross where an actor exited, a circle where it started again; its
/// title names the actor and, for an exit, the reason.
std::string lifecycle_marker(const plot_frame& p, const lifecycle_event& e,
                             double y) {
  double x = p.x(static_cast<double>(std::min(e.t_ms, p.t_max_ms)));
  std::string title = "<title>"
    + html_escape(std::to_string(e.t_ms) + " ms: " + e.actor
                  + (e.exit ? " exited (" + e.reason + ")" : " started"))
    + "</title>";
  if (!e.exit)
    return "<circle cx=\"" + number(x) + "\" cy=\"" + number(y)
      + "\" r=\"4.5\" fill=\"none\" stroke=\"#0072B2\" stroke-width=\"2\">"
      + title + "</circle>\n";
  return "<path d=\"M" + number(x - 5) + " " + number(y - 5) + " L"
    + number(x + 5) + " " + number(y + 5) + " M" + number(x + 5) + " "
    + number(y - 5) + " L" + number(x - 5) + " " + number(y + 5)
    + "\" stroke=\"#D55E00\" stroke-width=\"2.2\">" + title + "</path>\n";
}

std::string lifecycle_plot(const run_report& r, int64_t t_max_ms) {
  auto events = lifecycle(r);
  auto lanes = lifecycle_lanes(events);
  size_t exits = 0;
  for (auto& e : events)
    exits += e.exit ? 1 : 0;
  std::string head
    = "<section><h2>Actors that exited and were restarted</h2>"
      "<div class=\"legend\">"
      "<span><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><path "
      "d=\"M2 2 L12 12 M12 2 L2 12\" stroke=\"#D55E00\" stroke-width=\"2.2\"/>"
      "</svg>exit ("
    + std::to_string(exits)
    + ")</span><span><svg width=\"14\" height=\"14\" aria-hidden=\"true\">"
      "<circle cx=\"7\" cy=\"7\" r=\"4.5\" fill=\"none\" stroke=\"#0072B2\" "
      "stroke-width=\"2\"/></svg>restart ("
    + std::to_string(events.size() - exits) + ")</span>"
    + legend_faults(r.faults) + "</div><figure>";
  auto p = make_frame(r, t_max_ms,
                      static_cast<double>(std::max<size_t>(lanes.size(), 1)));
  std::string body = svg_open(p, "actor exits and restarts by kind");
  // The axes without a numeric y scale: one lane per kind.
  body += axes(p, "actor kind", -1);
  body += fault_shading(p, r.faults);
  if (lanes.empty())
    body += "<text x=\"" + number((p.left() + p.right()) / 2) + "\" y=\""
      + number((p.top() + p.bottom()) / 2)
      + "\" font-size=\"13\" text-anchor=\"middle\" fill=\"#444\">no actor "
        "exited or was restarted</text>\n";
  for (size_t lane = 0; lane < lanes.size(); ++lane) {
    double y = p.y(static_cast<double>(lanes.size() - lane) - 0.5);
    body += "<line x1=\"" + number(p.left()) + "\" y1=\"" + number(y)
      + "\" x2=\"" + number(p.right()) + "\" y2=\"" + number(y)
      + "\" stroke=\"#d0d0d0\" stroke-width=\"1\"/>\n";
    body += "<text x=\"" + number(p.left() + 4) + "\" y=\"" + number(y - 8)
      + "\" font-size=\"11\" fill=\"#333\">" + html_escape(lanes[lane])
      + "</text>\n";
    for (auto& e : events)
      if (actor_kind(e.actor) == lanes[lane])
        body += lifecycle_marker(p, e, y);
  }
  body += fault_labels(p, r.faults);
  return head + body
    + "</svg><figcaption>From the trace: an actor's exit (hover for its "
      "name and reason) and the start of a new incarnation of an actor that "
      "had run before (its supervisor's restart).</figcaption></figure>"
      "</section>\n";
}

// --- Header and tables --------------------------------------------------

std::string verdict_badge(verdict v) {
  auto css = v == verdict::held ? "held"
    : v == verdict::failed      ? "failed"
                                : "other";
  return "<span class=\"verdict " + std::string(css) + "\">"
    + html_escape(to_string(v)) + "</span>";
}

/// A planted defect is said next to the verdict, so that nobody takes the
/// run's failure for a real one.
std::string planted_facts(const run_report& r) {
  std::string out;
  for (auto& name : r.planted)
    out += "<dt>planted</dt><dd><span class=\"verdict other\">planted "
           "defect: "
      + html_escape(name)
      + "</span> (a bug put into this run on purpose)</dd>\n";
  return out;
}

std::string header(const run_report& r, const std::string& description,
                   const std::string& out_dir) {
  std::string verdict_text;
  if (auto* failure = r.first_failure())
    verdict_text = "<span class=\"verdict failed\">FAILED: "
      + html_escape(info_of(failure->kind).name) + "</span>";
  else
    verdict_text = "<span class=\"verdict held\">every oracle held</span>";
  uint64_t total = r.calls_unanswered;
  std::string by_code;
  for (auto& [code, n] : r.calls_by_code) {
    total += n;
    by_code += (by_code.empty() ? "" : ", ") + code + " " + std::to_string(n);
  }
  if (r.calls_unanswered > 0)
    by_code += (by_code.empty() ? "" : ", ") + std::string("unanswered ")
      + std::to_string(r.calls_unanswered);
  auto fact = [](const std::string& name, const std::string& html) {
    return "<dt>" + html_escape(name) + "</dt><dd>" + html + "</dd>\n";
  };
  return "<h1>prism simulate: " + html_escape(r.scenario_name) + "</h1>\n"
    + "<p class=\"description\">" + html_escape(description) + "</p>\n"
    + "<dl class=\"facts\">\n" + fact("verdict", verdict_text)
    + planted_facts(r) + fact("seed", std::to_string(r.seed))
    + fact("scenario",
           "<code>" + html_escape(r.scenario_file) + "</code> (sha256 <code>"
             + html_escape(r.scenario_sha256.substr(0, 12)) + "</code>)")
    + fact("time",
           std::to_string(r.virtual_ms) + " virtual ms in "
             + std::to_string(r.wall_ms) + " wall ms, "
             + std::to_string(r.trace.size()) + " trace events")
    + fact("calls",
           std::to_string(total)
             + (by_code.empty() ? "" : ": " + html_escape(by_code)))
    + fact("rerun", "<code>" + html_escape(rerun_command(r)) + "</code>")
    + fact("replay",
           "<code>" + html_escape(verify_command(out_dir)) + "</code>")
    + "</dl>\n";
}

std::string oracle_table(const run_report& r) {
  std::string out = "<section><h2>Oracles</h2><table><thead><tr><th>oracle"
                    "</th><th>verdict</th><th>detail</th><th>first "
                    "counterexample</th></tr></thead><tbody>\n";
  for (auto& v : r.verdicts)
    out += "<tr><td><code>" + html_escape(info_of(v.kind).name)
      + "</code></td><td>" + verdict_badge(v.outcome) + "</td><td>"
      + html_escape(v.summary) + "</td><td>"
      + (v.counterexample.empty() ? "&mdash;" : html_escape(v.counterexample))
      + "</td></tr>\n";
  return out + "</tbody></table></section>\n";
}

std::string fault_table(const run_report& r) {
  std::string out = "<section><h2>Faults</h2>";
  if (!r.random_kinds_on.empty() || !r.random_kinds_off.empty()) {
    std::string on;
    std::string off;
    for (auto& k : r.random_kinds_on)
      on += (on.empty() ? "" : ", ") + k;
    for (auto& k : r.random_kinds_off)
      off += (off.empty() ? "" : ", ") + k;
    out += "<p>Random fault kinds on: " + html_escape(on.empty() ? "none" : on)
      + "; off: " + html_escape(off.empty() ? "none" : off) + ".</p>";
  }
  if (r.faults.empty())
    return out + "<p>None.</p></section>\n";
  out += "<table><thead><tr><th>id</th><th>kind</th><th>target</th>"
         "<th>at (ms)</th><th>lasts (ms)</th><th>ended (ms)</th>"
         "<th>source</th><th>outcome</th></tr></thead><tbody>\n";
  for (auto& f : r.faults)
    out += "<tr><td>" + html_escape(f.id) + "</td><td>"
      + html_escape(kind_name(f)) + "</td><td>" + html_escape(f.spec.target)
      + "</td><td>" + std::to_string(f.spec.at_ms) + "</td><td>"
      + (f.spec.duration_ms > 0 ? std::to_string(f.spec.duration_ms)
                                : std::string("instant"))
      + "</td><td>"
      + (f.ended_ms >= 0 ? std::to_string(f.ended_ms)
                         : std::string("never began"))
      + "</td><td>" + (f.random ? "random" : "scheduled") + "</td><td>"
      + html_escape(f.outcome) + "</td></tr>\n";
  return out + "</tbody></table></section>\n";
}

} // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string report_html(const run_report& r, const std::string& description,
                        const std::string& out_dir) {
  auto t_max_ms = time_axis_end_ms(r);
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
         "charset=\"utf-8\">\n<meta name=\"viewport\" "
         "content=\"width=device-width, initial-scale=1\">\n<title>"
    + html_escape("prism simulate: " + r.scenario_name + ", seed "
                  + std::to_string(r.seed))
    + "</title>\n<style>" + std::string(style_sheet) + "</style>\n</head>\n"
    + "<body>\n" + header(r, description, out_dir) + oracle_table(r)
    + throughput_plot(r, t_max_ms)
    + (r.streams.empty() ? std::string() : pubsub_plot(r, t_max_ms))
    + latency_plot(r, t_max_ms) + lifecycle_plot(r, t_max_ms) + fault_table(r)
    + "</body>\n</html>\n";
}

} // namespace prism::simulation
