// Small inline-SVG charts for the HTML benchmark report: no scripts, no
// external resources, readable markup. Pure functions returning an <svg>
// element as text; all text is XML-escaped.
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
};

struct Axes {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 640;
  int height = 360;
};

// Lines with markers, linear axes from 0 to a rounded-up maximum.
std::string LineChart(const Axes& axes, const std::vector<Series>& series);

struct Bar {
  std::string label;  // x tick label; shown for some bars only when crowded
  double value = 0;
};

// Equal-width bars (e.g. the bins of a log-spaced histogram), y from 0.
std::string BarChart(const Axes& axes, const std::vector<Bar>& bars, const std::string& color);

// 1, 2, 5 x 10^k step giving about `ticks` ticks from 0 to at least `max`.
double NiceStep(double max, int ticks);

std::string XmlEscape(const std::string& text);

}  // namespace protoserve::cli::bench
