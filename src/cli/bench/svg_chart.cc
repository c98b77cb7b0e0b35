#include "cli/bench/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace protoserve::cli::bench {

namespace {

// Plot area margins: room for tick labels (left, bottom) and the title (top);
// a legend widens the right margin.
constexpr int kLeft = 64, kRight = 24, kTop = 32, kBottom = 48;
constexpr double kCharWidth = 6.5;  // about one character at font-size 11
constexpr double kLegendSample = 28;

std::string Num(double v) {
  char buffer[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) {
    std::snprintf(buffer, sizeof(buffer), "%.3g", v);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.6g", std::round(v * 1e4) / 1e4);
  }
  return buffer;
}

// A bar's value: whole numbers from 100 up, else three significant digits.
std::string ValueLabel(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), std::fabs(v) >= 100 ? "%.0f" : "%.3g", v);
  return buffer;
}

// One axis: where a value falls along it (0..1) and where its ticks go.
struct Scale {
  bool log = false;
  double lo = 0, hi = 1;  // log: powers of ten
  std::vector<double> ticks;

  bool Drawable(double v) const { return !log || v > 0; }
  double Fraction(double v) const {
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
};

Scale Linear(double max) {
  Scale s;
  const double step = NiceStep(max, 5);
  s.hi = std::max(step, std::ceil(max / step) * step);
  for (int i = 0; i * step <= s.hi * (1 + 1e-9); ++i) s.ticks.push_back(i * step);
  return s;
}

// Whole decades around [min_positive, max]; no positive data: 1 to 10.
Scale Logarithmic(double min_positive, double max) {
  Scale s;
  s.log = true;
  if (!(min_positive > 0) || !(max > 0)) min_positive = 1, max = 10;
  const int lo = static_cast<int>(std::floor(std::log10(min_positive) + 1e-9));
  const int hi = std::max(lo + 1, static_cast<int>(std::ceil(std::log10(max) - 1e-9)));
  s.lo = std::pow(10.0, lo);
  s.hi = std::pow(10.0, hi);
  for (int e = lo; e <= hi; ++e) {
    const double decade = std::pow(10.0, e);
    s.ticks.push_back(decade);
    if (hi - lo <= 2 && e < hi) {
      s.ticks.push_back(2 * decade);
      s.ticks.push_back(5 * decade);
    }
  }
  return s;
}

Scale ScaleOf(bool log, const std::vector<double>& values) {
  double max = 0, min_positive = std::numeric_limits<double>::infinity();
  for (double v : values) {
    max = std::max(max, v);
    if (v > 0) min_positive = std::min(min_positive, v);
  }
  return log ? Logarithmic(min_positive, max) : Linear(max);
}

struct Frame {
  const Axes& axes;
  Scale x, y;
  double right = kRight;
  double plot_w() const { return axes.width - kLeft - right; }
  double plot_h() const { return axes.height - kTop - kBottom; }
  double X(double v) const { return kLeft + x.Fraction(v) * plot_w(); }
  double Y(double v) const { return kTop + plot_h() - y.Fraction(v) * plot_h(); }
};

// The <svg> opening, title, axis labels, y grid; x ticks and grid when asked.
std::string Open(const Frame& f, bool x_ticks) {
  const Axes& a = f.axes;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(a.width) + "\" height=\"" +
                  std::to_string(a.height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + Num(a.width / 2.0) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
       XmlEscape(a.title) + "</text>\n";
  const double bottom = kTop + f.plot_h();
  for (double y : f.y.ticks) {
    s += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kLeft + f.plot_w()) + "\" y1=\"" + Num(f.Y(y)) + "\" y2=\"" +
         Num(f.Y(y)) + "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(f.Y(y) + 4) + "\" text-anchor=\"end\">" + TickLabel(y) +
         "</text>\n";
  }
  if (x_ticks) {
    for (double x : f.x.ticks) {
      s += "<line x1=\"" + Num(f.X(x)) + "\" x2=\"" + Num(f.X(x)) + "\" y1=\"" + Num(kTop) + "\" y2=\"" + Num(bottom) +
           "\" stroke=\"#eee\"/>\n";
      s += "<text x=\"" + Num(f.X(x)) + "\" y=\"" + Num(bottom + 16) + "\" text-anchor=\"middle\">" + TickLabel(x) +
           "</text>\n";
    }
  }
  s += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kLeft) + "\" y1=\"" + Num(kTop) + "\" y2=\"" + Num(bottom) +
       "\" stroke=\"#333\"/>\n";
  s += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kLeft + f.plot_w()) + "\" y1=\"" + Num(bottom) + "\" y2=\"" +
       Num(bottom) + "\" stroke=\"#333\"/>\n";
  s += "<text x=\"" + Num(kLeft + f.plot_w() / 2) + "\" y=\"" + Num(a.height - 8) + "\" text-anchor=\"middle\">" +
       XmlEscape(a.x_label) + (f.x.log ? " (log scale)" : "") + "</text>\n";
  s += "<text transform=\"translate(14 " + Num(kTop + f.plot_h() / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       XmlEscape(a.y_label) + (f.y.log ? " (log scale)" : "") + "</text>\n";
  return s;
}

std::string DashAttribute(const std::string& dash) {
  return dash.empty() ? "" : " stroke-dasharray=\"" + XmlEscape(dash) + "\"";
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

std::string TickLabel(double v) {
  if (std::fabs(v) >= 1e6) return Num(v / 1e6) + "M";
  if (std::fabs(v) >= 1e3) return Num(v / 1e3) + "k";
  return Num(v);
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
  std::vector<double> xs, ys;
  size_t longest_name = 0;
  for (const Series& s : series) {
    longest_name = std::max(longest_name, s.name.size());
    for (const ChartPoint& p : s.points) {
      xs.push_back(p.x);
      ys.push_back(p.y);
    }
  }
  const double right = series.empty() ? kRight : kRight + kLegendSample + kCharWidth * longest_name;
  const Frame f{axes, ScaleOf(axes.log_x, xs), ScaleOf(axes.log_y, ys), right};
  std::string svg = Open(f, true);
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    std::string points, markers;
    for (const ChartPoint& p : s.points) {
      if (!f.x.Drawable(p.x) || !f.y.Drawable(p.y)) continue;
      const std::string x = Num(f.X(p.x)), y = Num(f.Y(p.y));
      points += x + "," + y + " ";
      markers += "<circle cx=\"" + x + "\" cy=\"" + y + "\" r=\"3\" fill=\"" + XmlEscape(s.color) + "\"><title>" +
                 XmlEscape(s.name + " " + p.label + ": " + Num(p.y) + " at " + Num(p.x)) + "</title></circle>\n";
      if (!p.label.empty()) {
        markers += "<text x=\"" + Num(f.X(p.x) + 5) + "\" y=\"" + Num(f.Y(p.y) - 5) + "\" fill=\"#555\">" +
                   XmlEscape(p.label) + "</text>\n";
      }
    }
    svg += "<polyline fill=\"none\" stroke=\"" + XmlEscape(s.color) + "\" stroke-width=\"2\"" + DashAttribute(s.dash) +
           " points=\"" + points + "\"/>\n" + markers;
    const double lx = kLeft + f.plot_w() + 12, ly = kTop + 4 + 16.0 * i;  // legend, right of the plot
    svg += "<line x1=\"" + Num(lx) + "\" x2=\"" + Num(lx + 18) + "\" y1=\"" + Num(ly + 2) + "\" y2=\"" + Num(ly + 2) +
           "\" stroke=\"" + XmlEscape(s.color) + "\" stroke-width=\"2\"" + DashAttribute(s.dash) + "/><text x=\"" +
           Num(lx + 24) + "\" y=\"" + Num(ly + 6) + "\">" + XmlEscape(s.name) + "</text>\n";
  }
  return svg + "</svg>\n";
}

std::string BarChart(const Axes& axes, const std::vector<Bar>& bars, const std::string& color, BarLabels labels) {
  // Centered bars carry their value above them: the axis leaves room for it below the title.
  const double headroom = labels == BarLabels::kCentered ? 1.12 : 1.0;
  std::vector<double> values;
  for (const Bar& b : bars) values.push_back(b.value * headroom);
  const Frame f{axes, Scale{}, ScaleOf(false, values)};
  std::string svg = Open(f, false);
  const double width = f.plot_w() / std::max<size_t>(1, bars.size());
  const double bottom = kTop + f.plot_h();
  const size_t label_every = labels == BarLabels::kCentered ? 1 : std::max<size_t>(1, bars.size() / 8);
  for (size_t i = 0; i < bars.size(); ++i) {
    const double x = kLeft + width * i, y = f.Y(bars[i].value);
    const double gap = labels == BarLabels::kCentered ? width * 0.2 : 0.5;
    svg += "<rect x=\"" + Num(x + gap) + "\" y=\"" + Num(y) + "\" width=\"" + Num(std::max(1.0, width - 2 * gap)) +
           "\" height=\"" + Num(bottom - y) + "\" fill=\"" + XmlEscape(color) + "\"><title>" +
           XmlEscape(bars[i].label + ": " + Num(bars[i].value)) + "</title></rect>\n";
    const double label_x = labels == BarLabels::kCentered ? x + width / 2 : x;
    if (i % label_every == 0) {
      svg += "<text x=\"" + Num(label_x) + "\" y=\"" + Num(bottom + 16) + "\" text-anchor=\"middle\">" +
             XmlEscape(bars[i].label) + "</text>\n";
    }
    if (labels == BarLabels::kCentered) {
      svg += "<text x=\"" + Num(label_x) + "\" y=\"" + Num(y - 5) + "\" text-anchor=\"middle\">" +
             ValueLabel(bars[i].value) + "</text>\n";
    }
  }
  return svg + "</svg>\n";
}

}  // namespace protoserve::cli::bench
