// Small inline-SVG charts for benchmark reports (the HTML page of `bench
// --html`, and the charts of docs/benchmarks.md through `bench chart`): no
// scripts, no external resources, readable markup. Pure functions returning
// an <svg> element as text; all text is XML-escaped.
#pragma once

#include <string>
#include <vector>

namespace protoserve::cli::bench {

struct ChartPoint {
  double x = 0;
  double y = 0;
  std::string label;  // drawn next to the point; may be empty
};

struct Series {
  std::string name;   // legend
  std::string color;  // any SVG colour, e.g. "#1f77b4"
  std::vector<ChartPoint> points;
  std::string dash{};  // SVG stroke-dasharray, e.g. "6,3"; empty: a solid line
};

struct Axes {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 640;
  int height = 360;
  // Logarithmic axes span whole decades around the data, ticked at 1, 10,
  // 100... (and 2, 5 between when the data spans two decades or less); points
  // with a value <= 0 on a logarithmic axis are not drawn. Linear axes run
  // from 0 to a rounded-up maximum.
  bool log_x = false;
  bool log_y = false;
};

// Lines with markers; the legend stands right of the plot.
std::string LineChart(const Axes& axes, const std::vector<Series>& series);

struct Bar {
  std::string label;  // x tick label
  double value = 0;
};

enum class BarLabels {
  kEdges,     // histogram bins: a label (e.g. the bin start) at some bars' left edges when crowded
  kCentered,  // categories: every label under its bar, the value above it
};

// Equal-width bars, y linear from 0.
std::string BarChart(const Axes& axes, const std::vector<Bar>& bars, const std::string& color,
                     BarLabels labels = BarLabels::kEdges);

// 1, 2, 5 x 10^k step giving about `ticks` ticks from 0 to at least `max`.
double NiceStep(double max, int ticks);

// Tick text: "0.25", "500", "5k", "1.5M".
std::string TickLabel(double v);

std::string XmlEscape(const std::string& text);

}  // namespace protoserve::cli::bench
