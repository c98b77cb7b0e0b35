#include "cli/read_file.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace protoserve::cli {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace protoserve::cli
