#include "cli/bench/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace protoserve::cli::bench {

namespace {

// Plot area margins: room for tick labels (left, bottom) and the title (top).
constexpr int kLeft = 64, kRight = 40, kTop = 32, kBottom = 48;

std::string Num(double v) {
  char buffer[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) {
    std::snprintf(buffer, sizeof(buffer), "%.3g", v);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.6g", std::round(v * 1e4) / 1e4);
  }
  return buffer;
}

struct Frame {
  const Axes& axes;
  double x_max, y_max;
  double plot_w() const { return axes.width - kLeft - kRight; }
  double plot_h() const { return axes.height - kTop - kBottom; }
  double X(double x) const { return kLeft + x / x_max * plot_w(); }
  double Y(double y) const { return kTop + plot_h() - y / y_max * plot_h(); }
};

// The <svg> opening, title, axis labels, y grid; x ticks when x_step > 0.
std::string Open(const Frame& f, double x_step, double y_step) {
  const Axes& a = f.axes;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(a.width) + "\" height=\"" +
                  std::to_string(a.height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<text x=\"" + Num(a.width / 2.0) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
       XmlEscape(a.title) + "</text>\n";
  for (double y = 0; y <= f.y_max * (1 + 1e-9); y += y_step) {
    s += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kLeft + f.plot_w()) + "\" y1=\"" + Num(f.Y(y)) + "\" y2=\"" +
         Num(f.Y(y)) + "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(f.Y(y) + 4) + "\" text-anchor=\"end\">" + Num(y) + "</text>\n";
  }
  if (x_step > 0) {
    for (double x = 0; x <= f.x_max * (1 + 1e-9); x += x_step) {
      s += "<text x=\"" + Num(f.X(x)) + "\" y=\"" + Num(kTop + f.plot_h() + 16) + "\" text-anchor=\"middle\">" +
           Num(x) + "</text>\n";
    }
  }
  s += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kLeft) + "\" y1=\"" + Num(kTop) + "\" y2=\"" +
       Num(kTop + f.plot_h()) + "\" stroke=\"#333\"/>\n";
  s += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kLeft + f.plot_w()) + "\" y1=\"" + Num(kTop + f.plot_h()) +
       "\" y2=\"" + Num(kTop + f.plot_h()) + "\" stroke=\"#333\"/>\n";
  s += "<text x=\"" + Num(kLeft + f.plot_w() / 2) + "\" y=\"" + Num(a.height - 8) + "\" text-anchor=\"middle\">" +
       XmlEscape(a.x_label) + "</text>\n";
  s += "<text transform=\"translate(14 " + Num(kTop + f.plot_h() / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       XmlEscape(a.y_label) + "</text>\n";
  return s;
}

}  // namespace

double NiceStep(double max, int ticks) {
  if (!(max > 0) || ticks <= 0) return 1;
  const double raw = max / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string LineChart(const Axes& axes, const std::vector<Series>& series) {
  double x_max = 0, y_max = 0;
  for (const Series& s : series) {
    for (const ChartPoint& p : s.points) {
      x_max = std::max(x_max, p.x);
      y_max = std::max(y_max, p.y);
    }
  }
  const double x_step = NiceStep(x_max, 5), y_step = NiceStep(y_max, 5);
  const Frame f{axes, std::max(x_step, std::ceil(x_max / x_step) * x_step),
                std::max(y_step, std::ceil(y_max / y_step) * y_step)};
  std::string svg = Open(f, x_step, y_step);
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    std::string points;
    for (const ChartPoint& p : s.points) points += Num(f.X(p.x)) + "," + Num(f.Y(p.y)) + " ";
    svg += "<polyline fill=\"none\" stroke=\"" + XmlEscape(s.color) + "\" stroke-width=\"2\" points=\"" + points + "\"/>\n";
    for (const ChartPoint& p : s.points) {
      svg += "<circle cx=\"" + Num(f.X(p.x)) + "\" cy=\"" + Num(f.Y(p.y)) + "\" r=\"3\" fill=\"" + XmlEscape(s.color) +
             "\"><title>" + XmlEscape(s.name + " " + p.label + ": " + Num(p.y) + " at " + Num(p.x)) + "</title></circle>\n";
      if (!p.label.empty()) {
        svg += "<text x=\"" + Num(f.X(p.x) + 5) + "\" y=\"" + Num(f.Y(p.y) - 5) + "\" fill=\"#555\">" +
               XmlEscape(p.label) + "</text>\n";
      }
    }
    const double ly = kTop + 4 + 16.0 * i;  // legend, top left of the plot
    svg += "<rect x=\"" + Num(kLeft + 10) + "\" y=\"" + Num(ly) + "\" width=\"12\" height=\"4\" fill=\"" +
           XmlEscape(s.color) + "\"/><text x=\"" + Num(kLeft + 28) + "\" y=\"" + Num(ly + 6) + "\">" +
           XmlEscape(s.name) + "</text>\n";
  }
  return svg + "</svg>\n";
}

std::string BarChart(const Axes& axes, const std::vector<Bar>& bars, const std::string& color) {
  double y_max = 0;
  for (const Bar& b : bars) y_max = std::max(y_max, b.value);
  const double y_step = NiceStep(y_max, 5);
  const Frame f{axes, 1, std::max(y_step, std::ceil(y_max / y_step) * y_step)};
  std::string svg = Open(f, 0, y_step);
  const double width = f.plot_w() / std::max<size_t>(1, bars.size());
  const size_t label_every = std::max<size_t>(1, bars.size() / 8);
  for (size_t i = 0; i < bars.size(); ++i) {
    const double x = kLeft + width * i, y = f.Y(bars[i].value);
    svg += "<rect x=\"" + Num(x + 0.5) + "\" y=\"" + Num(y) + "\" width=\"" + Num(std::max(1.0, width - 1)) +
           "\" height=\"" + Num(kTop + f.plot_h() - y) + "\" fill=\"" + XmlEscape(color) + "\"><title>" +
           XmlEscape(bars[i].label + ": " + Num(bars[i].value)) + "</title></rect>\n";
    if (i % label_every == 0) {
      svg += "<text x=\"" + Num(x) + "\" y=\"" + Num(kTop + f.plot_h() + 16) + "\" text-anchor=\"middle\">" +
             XmlEscape(bars[i].label) + "</text>\n";
    }
  }
  return svg + "</svg>\n";
}

}  // namespace protoserve::cli::bench
