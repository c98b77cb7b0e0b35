#include "cli/bench/chart_command.h"

#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "cli/bench/svg_chart.h"

namespace protoserve::cli::bench {

namespace {

using nlohmann::json;

Axes AxesFromJson(const json& spec) {
  Axes axes;
  axes.title = spec.value("title", "");
  axes.x_label = spec.value("x_label", "");
  axes.y_label = spec.value("y_label", "");
  axes.width = spec.value("width", axes.width);
  axes.height = spec.value("height", axes.height);
  axes.log_x = spec.value("log_x", false);
  axes.log_y = spec.value("log_y", false);
  if (axes.width < 200 || axes.height < 120) throw std::invalid_argument("chart width/height too small");
  return axes;
}

}  // namespace

std::string ChartFromJson(const json& spec) {
  try {
    const std::string type = spec.at("type").get<std::string>();
    const Axes axes = AxesFromJson(spec);
    if (type == "line") {
      std::vector<Series> series;
      for (const json& s : spec.at("series")) {
        Series& out = series.emplace_back();
        out.name = s.value("name", "");
        out.color = s.value("color", "#1f77b4");
        out.dash = s.value("dash", "");
        for (const json& p : s.at("points")) {
          out.points.push_back({p.at("x").get<double>(), p.at("y").get<double>(), p.value("label", "")});
        }
      }
      return LineChart(axes, series);
    }
    if (type == "bar") {
      std::vector<Bar> bars;
      for (const json& b : spec.at("bars")) bars.push_back({b.value("label", ""), b.at("value").get<double>()});
      const std::string labels = spec.value("labels", "centered");
      if (labels != "centered" && labels != "edges") throw std::invalid_argument("labels must be centered or edges");
      return BarChart(axes, bars, spec.value("color", "#4a7bd0"),
                      labels == "edges" ? BarLabels::kEdges : BarLabels::kCentered);
    }
    throw std::invalid_argument("chart type must be line or bar, got '" + type + "'");
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("chart spec: ") + e.what());
  }
}

int RunChart(const std::string& spec_path, const std::string& out_path) {
  std::stringstream text;
  if (spec_path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(spec_path);
    if (!in) throw std::invalid_argument("cannot read " + spec_path);
    text << in.rdbuf();
  }
  json spec;
  try {
    spec = json::parse(text.str());
  } catch (const json::exception& e) {
    throw std::invalid_argument(spec_path + ": " + e.what());
  }
  const std::string svg = ChartFromJson(spec);
  if (out_path.empty()) {
    std::cout << svg;
    return 0;
  }
  std::ofstream out(out_path);
  out << svg;
  if (!out) {
    std::cerr << "cannot write " << out_path << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace protoserve::cli::bench
