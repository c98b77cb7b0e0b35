// Whole-file reads for the CLI and the bench tool (certificates, tokens, request files).
#pragma once

#include <string>

namespace protoserve::cli {

// The whole content of `path` (binary); throws std::runtime_error when unreadable.
std::string ReadFile(const std::string& path);

}  // namespace protoserve::cli
