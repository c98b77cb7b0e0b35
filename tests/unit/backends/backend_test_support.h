// Test support for the backend tests: configs, FP32 tensors and a temporary
// version directory.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/model_config.h"
#include "core/tensor.h"
#include "support/parse_config.h"

namespace protoserve::testing {

inline ModelConfig Config(const std::string& text) { return ParseConfigOrFail(text); }

inline Tensor Floats(Shape shape, const std::vector<float>& values) {
  return Tensor::FromString(DataType::kFp32, std::move(shape),
                            std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

inline std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.element_count());
}

// <tmp>/protoserve-backend-XXXXXX/1: a version directory, removed with the object.
class VersionDir {
 public:
  VersionDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "protoserve-backend-XXXXXX").string();
    root_ = mkdtemp(pattern.data());
    std::filesystem::create_directories(path());
  }
  ~VersionDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::filesystem::path path() const { return root_ / "1"; }
  void Write(const std::string& file, const std::string& bytes) const {
    std::ofstream(path() / file, std::ios::binary) << bytes;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace protoserve::testing
