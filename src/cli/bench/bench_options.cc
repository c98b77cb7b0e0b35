#include "cli/bench/bench_options.h"

#include <cctype>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace protoserve::cli::bench {

namespace {

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    const auto begin = item.find_first_not_of(" \t");
    const auto end = item.find_last_not_of(" \t");
    if (begin != std::string::npos) items.push_back(item.substr(begin, end - begin + 1));
  }
  return items;
}

double ParseNumber(const std::string& text, size_t* used) {
  try {
    return std::stod(text, used);
  } catch (const std::exception&) {
    throw std::invalid_argument("not a number: '" + text + "'");
  }
}

}  // namespace

std::chrono::nanoseconds ParseDuration(const std::string& text) {
  size_t used = 0;
  const double value = ParseNumber(text, &used);
  const std::string unit = text.substr(used);
  double seconds;
  if (unit.empty() || unit == "s") seconds = value;
  else if (unit == "ms") seconds = value / 1e3;
  else if (unit == "us") seconds = value / 1e6;
  else if (unit == "m") seconds = value * 60;
  else throw std::invalid_argument("duration '" + text + "': use e.g. 10s, 500ms, 2m");
  if (!(seconds >= 0) || !std::isfinite(seconds)) throw std::invalid_argument("duration '" + text + "' must be >= 0");
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(seconds * 1e9)));
}

std::vector<int> ParseIntList(const std::string& text) {
  std::vector<int> values;
  for (const std::string& item : SplitComma(text)) {
    size_t used = 0;
    const double v = ParseNumber(item, &used);
    if (used != item.size() || v < 1 || v != std::floor(v) || v > 1e6) {
      throw std::invalid_argument("'" + item + "' in '" + text + "' is not a positive integer");
    }
    values.push_back(static_cast<int>(v));
  }
  if (values.empty()) throw std::invalid_argument("empty list '" + text + "'; use e.g. 1,2,4,8");
  return values;
}

std::vector<double> ParseRateList(const std::string& text) {
  std::vector<double> values;
  for (const std::string& item : SplitComma(text)) {
    size_t used = 0;
    const double v = ParseNumber(item, &used);
    if (used != item.size() || !(v > 0) || !std::isfinite(v)) {
      throw std::invalid_argument("rate '" + item + "' must be a positive number of requests/s");
    }
    values.push_back(v);
  }
  if (values.empty()) throw std::invalid_argument("empty rate list '" + text + "'");
  return values;
}

std::pair<std::string, std::string> ParseMetadata(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--metadata must be key=value, got '" + text + "'");
  std::string key = text.substr(0, eq);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {key, text.substr(eq + 1)};
}

}  // namespace protoserve::cli::bench
