// `protoserve-cli bench chart SPEC.json [-o OUT.svg]`: one SVG chart from a
// JSON description, drawn by the same code as the charts of `bench --html`
// (svg_chart.h), so scripts such as bench/run_suite.py chart their results
// without a chart library of their own.
//
//   {"type": "line", "title": "...", "x_label": "...", "y_label": "...",
//    "width": 720, "height": 400, "log_x": false, "log_y": true,
//    "series": [{"name": "...", "color": "#1f77b4", "dash": "6,3",
//                "points": [{"x": 1, "y": 2, "label": "c=1"}]}]}
//   {"type": "bar", "title": "...", "color": "#4a7bd0", "labels": "centered",
//    "bars": [{"label": "on", "value": 3668}]}
//
// Only "type" and the data ("series" or "bars") are required; "labels" is
// "centered" (categories, values above the bars; the default) or "edges"
// (histogram bins). Pure except RunChart's file I/O.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace protoserve::cli::bench {

// The <svg> text; throws std::invalid_argument naming what is wrong.
std::string ChartFromJson(const nlohmann::json& spec);

// Reads the spec from `spec_path` ("-": stdin), writes the SVG to `out_path`
// (empty: stdout). Returns the exit code; throws std::invalid_argument on a
// bad spec.
int RunChart(const std::string& spec_path, const std::string& out_path);

}  // namespace protoserve::cli::bench
