#include "core/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

namespace protoserve {

namespace {

// The fields of /proc/self/stat from the third (state) on: the second, the
// command name in parentheses, may itself hold spaces and ')'.
std::vector<std::string> StatFields() {
  std::ifstream stat("/proc/self/stat");
  std::string content;
  std::getline(stat, content);
  std::vector<std::string> fields;
  const size_t end_of_name = content.rfind(')');
  if (end_of_name == std::string::npos) return fields;
  std::istringstream in(content.substr(end_of_name + 1));
  for (std::string value; in >> value;) fields.push_back(value);
  return fields;
}

// Field `n` (1-based, as in proc(5)) of /proc/self/stat as a number, 0 when absent.
double StatField(const std::vector<std::string>& fields, size_t n) {
  return n >= 3 && n - 3 < fields.size() ? std::stod(fields[n - 3]) : 0;
}

double ReadStartTime() {
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  const double started_after_boot = StatField(StatFields(), 22) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(time(nullptr)) - uptime + started_after_boot;
}

int OpenFds() {
  int entries = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++entries;
    closedir(dir);
  }
  return entries > 2 ? entries - 3 : 0;  // minus ".", ".." and the directory itself
}

prometheus::MetricFamily One(const char* name, const char* help, prometheus::MetricType type, double value) {
  prometheus::MetricFamily family{name, help, type, {prometheus::ClientMetric{}}};
  if (type == prometheus::MetricType::Counter) {
    family.metric[0].counter.value = value;
  } else {
    family.metric[0].gauge.value = value;
  }
  return family;
}

}  // namespace

ProcessMetrics::ProcessMetrics() : start_time_seconds_(ReadStartTime()) {}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  std::ifstream statm("/proc/self/statm");
  double pages_virtual = 0, pages_resident = 0;
  statm >> pages_virtual >> pages_resident;
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const std::vector<std::string> fields = StatFields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double cpu_seconds = (StatField(fields, 14) + StatField(fields, 15)) / ticks;  // utime + stime
  return {
      One("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::Counter,
          cpu_seconds),
      One("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, OpenFds()),
      One("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
          pages_resident * page),
      One("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          MetricType::Gauge, start_time_seconds_),
      One("process_threads", "Number of OS threads in the process.", MetricType::Gauge, StatField(fields, 20)),
      One("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
          pages_virtual * page),
  };
}

}  // namespace protoserve
