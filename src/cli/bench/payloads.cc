#include "cli/bench/payloads.h"

#include "cli/read_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>

namespace protoserve::cli::bench {

namespace {

using nlohmann::json;

constexpr int kGeneratedRecommendRequests = 1024;
constexpr int kUserIds = 20000;
constexpr int kMaxInferPayloads = 64;
constexpr size_t kInferPoolBytes = 16 << 20;

json ParseJsonFile(const std::string& path) {
  try {
    return json::parse(ReadFile(path));
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

// Calls f(T{}) with the C++ type of a fixed-size KServe datatype; false if none.
template <typename F>
bool VisitNumeric(const std::string& dtype, F&& f) {
  if (dtype == "FP32") f(float{});
  else if (dtype == "FP64") f(double{});
  else if (dtype == "INT64") f(int64_t{});
  else if (dtype == "INT32") f(int32_t{});
  else if (dtype == "INT16") f(int16_t{});
  else if (dtype == "INT8") f(int8_t{});
  else if (dtype == "UINT64") f(uint64_t{});
  else if (dtype == "UINT32") f(uint32_t{});
  else if (dtype == "UINT16") f(uint16_t{});
  else if (dtype == "UINT8") f(uint8_t{});
  else if (dtype == "BOOL") f(bool{});
  else return false;
  return true;
}

int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void AppendBytesElement(const std::string& value, std::string* raw) {
  const auto length = static_cast<uint32_t>(value.size());
  raw->append(reinterpret_cast<const char*>(&length), 4);
  raw->append(value);
}

// Calls f(value) for each element of a fixed-size input, as its C++ type;
// false if the datatype is not one.
template <typename F>
bool ForEachValue(const InferInput& input, F&& f) {
  return VisitNumeric(input.spec.datatype, [&](auto zero) {
    using T = decltype(zero);
    for (size_t i = 0; i + sizeof(T) <= input.raw.size(); i += sizeof(T)) {
      T v;
      std::memcpy(&v, input.raw.data() + i, sizeof(T));
      f(v);
    }
  });
}

// The KServe typed contents field for each element type.
void AddTyped(inference::InferTensorContents* c, bool v) { c->add_bool_contents(v); }
void AddTyped(inference::InferTensorContents* c, float v) { c->add_fp32_contents(v); }
void AddTyped(inference::InferTensorContents* c, double v) { c->add_fp64_contents(v); }
void AddTyped(inference::InferTensorContents* c, int64_t v) { c->add_int64_contents(v); }
void AddTyped(inference::InferTensorContents* c, uint64_t v) { c->add_uint64_contents(v); }
void AddTyped(inference::InferTensorContents* c, int32_t v) { c->add_int_contents(v); }
void AddTyped(inference::InferTensorContents* c, uint32_t v) { c->add_uint_contents(v); }

void SetTypedContents(const InferInput& input, inference::InferTensorContents* contents) {
  if (input.spec.datatype == "BYTES") {
    for (std::string& element : BytesElements(input.raw)) contents->add_bytes_contents(std::move(element));
    return;
  }
  const bool known = ForEachValue(input, [&](auto v) {
    using T = decltype(v);
    if constexpr (std::is_same_v<T, bool> || sizeof(T) == 8) AddTyped(contents, v);
    else if constexpr (std::is_same_v<T, float>) AddTyped(contents, v);
    else if constexpr (std::is_signed_v<T>) AddTyped(contents, static_cast<int32_t>(v));  // INT8/16/32
    else AddTyped(contents, static_cast<uint32_t>(v));                                   // UINT8/16/32
  });
  if (!known) throw std::runtime_error(input.spec.datatype + " has no typed contents field; send it raw");
}

// KServe v2 request JSON: each input's values as "data", or (binary) only
// their size as parameter "binary_data_size", the bytes following the JSON.
json InferJsonHeader(const InferPayload& payload, bool binary) {
  json inputs = json::array();
  for (const InferInput& input : payload.inputs) {
    json tensor = {{"name", input.spec.name}, {"shape", input.spec.shape}, {"datatype", input.spec.datatype}};
    if (binary) {
      tensor["parameters"] = {{"binary_data_size", input.raw.size()}};
    } else if (input.spec.datatype == "BYTES") {
      tensor["data"] = BytesElements(input.raw);
    } else {
      json data = json::array();
      ForEachValue(input, [&](auto v) { data.push_back(v); });
      tensor["data"] = std::move(data);
    }
    inputs.push_back(std::move(tensor));
  }
  json body = {{"inputs", inputs}};
  if (!payload.outputs.empty()) {
    json outputs = json::array();
    for (const auto& name : payload.outputs) outputs.push_back({{"name", name}});
    body["outputs"] = outputs;
  }
  return body;
}

InferInput RandomInput(const TensorSpec& spec, std::mt19937_64& rng) {
  InferInput input{spec, {}};
  const int64_t n = ElementCount(spec.shape);
  if (spec.datatype == "BYTES") {
    for (int64_t i = 0; i < n; ++i) AppendBytesElement("item_" + std::to_string(rng() % 1000), &input.raw);
    return input;
  }
  const bool known = VisitNumeric(spec.datatype, [&](auto zero) {
    using T = decltype(zero);
    input.raw.resize(n * sizeof(T));
    auto* out = reinterpret_cast<T*>(input.raw.data());
    // Floats in [0, 1); integers in [0, 100), safe as indices and class ids.
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_floating_point_v<T>) out[i] = static_cast<T>(unit(rng));
      else if constexpr (std::is_same_v<T, bool>) out[i] = rng() & 1;
      else out[i] = static_cast<T>(rng() % 100);
    }
  });
  if (!known) throw std::runtime_error("cannot generate " + spec.datatype + " input '" + spec.name + "'; use --request");
  return input;
}

std::vector<TensorSpec> SpecsFromJson(const json& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) {
    specs.push_back({t.at("name").get<std::string>(), t.at("datatype").get<std::string>(),
                     t.at("shape").get<std::vector<int64_t>>()});
  }
  return specs;
}

}  // namespace

// The elements of a BYTES input's raw form (each a 4-byte length + bytes).
std::vector<std::string> BytesElements(const std::string& raw) {
  std::vector<std::string> elements;
  for (size_t i = 0; i + 4 <= raw.size();) {
    uint32_t length;
    std::memcpy(&length, raw.data() + i, 4);
    elements.push_back(raw.substr(i + 4, length));
    i += 4 + length;
  }
  return elements;
}

std::vector<RecommendationRequest> MakeRecommendRequests(const PayloadOptions& options) {
  std::vector<RecommendationRequest> requests;
  auto add = [&](const std::string& user_id, const std::vector<float>& features) {
    RecommendationRequest& r = requests.emplace_back();
    r.set_user_id(user_id);
    for (float f : features) r.add_features(f);
    r.set_top_k(options.top_k);
    r.set_model_name(options.model);
    if (!options.model_version.empty()) r.set_model_version(std::stoll(options.model_version));
  };
  if (!options.request_file.empty()) {
    const json j = ParseJsonFile(options.request_file);
    try {
      add(j.at("user_id").get<std::string>(), j.at("features").get<std::vector<float>>());
      RecommendationRequest& r = requests.back();
      if (j.contains("top_k")) r.set_top_k(j["top_k"].get<int32_t>());
      if (j.contains("model_name")) r.set_model_name(j["model_name"].get<std::string>());
      if (j.contains("model_version")) r.set_model_version(j["model_version"].get<int64_t>());
      for (const auto& id : j.value("exclude_item_ids", json::array())) r.add_exclude_item_ids(id.get<std::string>());
    } catch (const json::exception& e) {
      throw std::runtime_error(options.request_file + ": " + e.what());
    }
    return requests;
  }
  if (!options.data_file.empty()) {
    const json samples = ParseJsonFile(options.data_file);
    for (const auto& s : samples) add(s.at("user_id").get<std::string>(), s.at("features").get<std::vector<float>>());
    if (requests.empty()) throw std::runtime_error(options.data_file + ": no samples");
    return requests;
  }
  if (options.payload_floats <= 0) throw std::runtime_error("--payload-floats must be > 0");
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> features(options.payload_floats);
  char user_id[32];
  for (int i = 0; i < kGeneratedRecommendRequests; ++i) {
    std::snprintf(user_id, sizeof(user_id), "user_%05d", static_cast<int>(rng() % kUserIds));
    float sum = 0;
    for (float& f : features) sum += (f = unit(rng));
    for (float& f : features) f /= sum > 0 ? sum : 1;
    add(user_id, features);
  }
  return requests;
}

std::string RecommendToJson(const RecommendationRequest& request) {
  json j = {{"user_id", request.user_id()},
            {"features", std::vector<float>(request.features().begin(), request.features().end())}};
  if (request.top_k() > 0) j["top_k"] = request.top_k();
  if (!request.model_name().empty()) j["model_name"] = request.model_name();
  if (request.model_version() != 0) j["model_version"] = request.model_version();
  if (request.exclude_item_ids_size() > 0) {
    j["exclude_item_ids"] = std::vector<std::string>(request.exclude_item_ids().begin(), request.exclude_item_ids().end());
  }
  return j.dump();
}

std::vector<TensorSpec> InputSpecs(const inference::ModelMetadataResponse& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& t : metadata.inputs()) {
    specs.push_back({t.name(), t.datatype(), std::vector<int64_t>(t.shape().begin(), t.shape().end())});
  }
  return specs;
}

std::vector<TensorSpec> InputSpecsFromJson(const std::string& metadata_json) {
  try {
    return SpecsFromJson(json::parse(metadata_json).at("inputs"));
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("model metadata: ") + e.what());
  }
}

std::vector<InferPayload> MakeInferPayloads(const PayloadOptions& options, const std::vector<TensorSpec>& specs) {
  if (!options.request_file.empty()) return {InferPayloadFromJson(ReadFile(options.request_file))};
  if (specs.empty()) throw std::runtime_error("the model's metadata lists no inputs");
  std::vector<TensorSpec> concrete = specs;
  size_t bytes_per_request = 1;
  for (TensorSpec& spec : concrete) {
    for (size_t i = 0; i < spec.shape.size(); ++i) {
      if (spec.shape[i] < 0) spec.shape[i] = i == 0 ? options.batch : 1;
    }
    int64_t element_size = 8;
    VisitNumeric(spec.datatype, [&](auto zero) { element_size = sizeof(zero); });
    bytes_per_request += ElementCount(spec.shape) * element_size;
  }
  const size_t count = std::clamp<size_t>(kInferPoolBytes / bytes_per_request, 1, kMaxInferPayloads);
  std::mt19937_64 rng(options.seed);
  std::vector<InferPayload> payloads(count);
  for (InferPayload& payload : payloads) {
    for (const TensorSpec& spec : concrete) payload.inputs.push_back(RandomInput(spec, rng));
  }
  return payloads;
}

InferPayload InferPayloadFromJson(const std::string& text) {
  InferPayload payload;
  try {
    const json j = json::parse(text);
    for (const auto& t : j.at("inputs")) {
      InferInput input{SpecsFromJson(json::array({t}))[0], {}};
      // Flatten nested data in row-major order.
      json flat = json::array();
      std::function<void(const json&)> walk = [&](const json& v) {
        if (v.is_array()) {
          for (const auto& e : v) walk(e);
        } else {
          flat.push_back(v);
        }
      };
      walk(t.at("data"));
      if (static_cast<int64_t>(flat.size()) != ElementCount(input.spec.shape)) {
        throw std::runtime_error("input '" + input.spec.name + "': " + std::to_string(flat.size()) +
                                 " values for shape of " + std::to_string(ElementCount(input.spec.shape)));
      }
      if (input.spec.datatype == "BYTES") {
        for (const auto& v : flat) AppendBytesElement(v.get<std::string>(), &input.raw);
      } else if (!VisitNumeric(input.spec.datatype, [&](auto zero) {
                   for (const auto& v : flat) {
                     const auto x = v.get<decltype(zero)>();
                     input.raw.append(reinterpret_cast<const char*>(&x), sizeof(x));
                   }
                 })) {
        throw std::runtime_error("unsupported datatype " + input.spec.datatype);
      }
      payload.inputs.push_back(std::move(input));
    }
    for (const auto& o : j.value("outputs", json::array())) payload.outputs.push_back(o.at("name").get<std::string>());
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("infer request JSON: ") + e.what());
  }
  return payload;
}

inference::ModelInferRequest ToModelInferRequest(const InferPayload& payload, const PayloadOptions& options) {
  const bool typed = options.input_tensor_format == "typed";
  inference::ModelInferRequest request;
  request.set_model_name(options.model);
  request.set_model_version(options.model_version);
  for (const InferInput& input : payload.inputs) {
    auto* tensor = request.add_inputs();
    tensor->set_name(input.spec.name);
    tensor->set_datatype(input.spec.datatype);
    for (int64_t d : input.spec.shape) tensor->add_shape(d);
    if (typed) {
      SetTypedContents(input, tensor->mutable_contents());
    } else {
      request.add_raw_input_contents(input.raw);
    }
  }
  for (const std::string& name : payload.outputs) request.add_outputs()->set_name(name);
  return request;
}

std::string InferToJson(const InferPayload& payload) { return InferJsonHeader(payload, false).dump(); }

std::string InferToBinary(const InferPayload& payload, size_t* json_size) {
  std::string body = InferJsonHeader(payload, true).dump();
  *json_size = body.size();
  for (const InferInput& input : payload.inputs) body += input.raw;
  return body;
}

}  // namespace protoserve::cli::bench
