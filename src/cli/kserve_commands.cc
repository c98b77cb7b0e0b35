#include "cli/kserve_commands.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "cli/bench/payloads.h"
#include "inference.grpc.pb.h"

namespace protoserve::cli {

namespace {

using nlohmann::json;

// The data of a little-endian .npy file (header checked against `dtype`).
std::string NpyData(const std::string& bytes, const std::string& dtype) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error("not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else {
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  }
  const std::string header = bytes.substr(offset, header_len);
  static const std::pair<const char*, const char*> kDescr[] = {
      {"FP32", "<f4"}, {"FP64", "<f8"}, {"INT64", "<i8"}, {"INT32", "<i4"}, {"INT16", "<i2"}, {"INT8", "|i1"},
      {"UINT8", "|u1"}, {"UINT16", "<u2"}, {"UINT32", "<u4"}, {"UINT64", "<u8"}, {"BOOL", "|b1"}, {"FP16", "<f2"}};
  for (const auto& [name, descr] : kDescr) {
    if (dtype == name && header.find(std::string("'") + descr + "'") == std::string::npos) {
      throw std::runtime_error(".npy dtype does not match " + dtype + " (header " + header + ")");
    }
  }
  if (header.find("'fortran_order': True") != std::string::npos) throw std::runtime_error("fortran-order .npy unsupported");
  return bytes.substr(offset + header_len);
}

template <typename T>
void AppendValues(const json& values, std::string* out) {
  for (const auto& v : values) {
    T x = v.get<T>();
    out->append(reinterpret_cast<const char*>(&x), sizeof(T));
  }
}

std::string JsonToRaw(const json& data, const std::string& dtype) {
  json flat = json::array();
  // Flatten nested arrays in row-major order.
  std::function<void(const json&)> walk = [&](const json& v) {
    if (v.is_array()) {
      for (const auto& e : v) walk(e);
    } else {
      flat.push_back(v);
    }
  };
  walk(data);
  std::string raw;
  if (dtype == "FP32") AppendValues<float>(flat, &raw);
  else if (dtype == "FP64") AppendValues<double>(flat, &raw);
  else if (dtype == "INT64") AppendValues<int64_t>(flat, &raw);
  else if (dtype == "INT32") AppendValues<int32_t>(flat, &raw);
  else if (dtype == "INT16") AppendValues<int16_t>(flat, &raw);
  else if (dtype == "INT8") AppendValues<int8_t>(flat, &raw);
  else if (dtype == "UINT64") AppendValues<uint64_t>(flat, &raw);
  else if (dtype == "UINT32") AppendValues<uint32_t>(flat, &raw);
  else if (dtype == "UINT16") AppendValues<uint16_t>(flat, &raw);
  else if (dtype == "UINT8") AppendValues<uint8_t>(flat, &raw);
  else if (dtype == "BOOL") AppendValues<bool>(flat, &raw);
  else throw std::runtime_error("JSON data for " + dtype + " is not supported by the CLI; use .npy");
  return raw;
}

void AddInput(const std::string& spec, inference::ModelInferRequest* request) {
  // name:DTYPE:shape:DATA — DATA may itself contain ':' only inside a path.
  size_t a = spec.find(':'), b = spec.find(':', a + 1), c = spec.find(':', b + 1);
  if (a == std::string::npos || b == std::string::npos || c == std::string::npos) {
    throw std::runtime_error("--input must be name:DTYPE:d1,d2,...:DATA, got '" + spec + "'");
  }
  auto* input = request->add_inputs();
  input->set_name(spec.substr(0, a));
  input->set_datatype(spec.substr(a + 1, b - a - 1));
  std::stringstream dims(spec.substr(b + 1, c - b - 1));
  for (std::string d; std::getline(dims, d, ',');) input->add_shape(std::stoll(d));
  const std::string data = spec.substr(c + 1);
  const std::string& dtype = input->datatype();
  std::string raw;
  if (data.size() > 4 && data[0] == '@' && data.ends_with(".npy")) {
    raw = NpyData(ReadFile(data.substr(1)), dtype);
  } else {
    raw = JsonToRaw(json::parse(data[0] == '@' ? ReadFile(data.substr(1)) : data), dtype);
  }
  *request->add_raw_input_contents() = std::move(raw);
}

template <typename T>
json Values(const std::string& raw) {
  json out = json::array();
  for (size_t i = 0; i + sizeof(T) <= raw.size(); i += sizeof(T)) {
    T v;
    std::memcpy(&v, raw.data() + i, sizeof(T));
    out.push_back(v);
  }
  return out;
}

json DecodeRaw(const std::string& dtype, const std::string& raw) {
  if (dtype == "FP32") return Values<float>(raw);
  if (dtype == "FP64") return Values<double>(raw);
  if (dtype == "INT64") return Values<int64_t>(raw);
  if (dtype == "INT32") return Values<int32_t>(raw);
  if (dtype == "INT16") return Values<int16_t>(raw);
  if (dtype == "INT8") return Values<int8_t>(raw);
  if (dtype == "UINT64") return Values<uint64_t>(raw);
  if (dtype == "UINT32") return Values<uint32_t>(raw);
  if (dtype == "UINT16") return Values<uint16_t>(raw);
  if (dtype == "UINT8") return Values<uint8_t>(raw);
  if (dtype == "BOOL") return Values<bool>(raw);
  if (dtype == "BYTES") return bench::BytesElements(raw);
  return json::array();
}

}  // namespace

int ListModels(const ConnectionOptions& connection) {
  auto stub = inference::GRPCInferenceService::NewStub(MakeChannel(connection));
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  inference::RepositoryIndexRequest request;
  inference::RepositoryIndexResponse response;
  grpc::Status status = stub->RepositoryIndex(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status);
  json models = json::array();
  for (const auto& m : response.models()) {
    models.push_back({{"name", m.name()}, {"version", m.version()}, {"state", m.state()}, {"reason", m.reason()}});
  }
  PrintJson({{"models", models}});
  return 0;
}

int Infer(const ConnectionOptions& connection, const InferArgs& args) {
  inference::ModelInferRequest request;
  request.set_model_name(args.model);
  request.set_model_version(args.version);
  for (const auto& spec : args.inputs) AddInput(spec, &request);
  for (const auto& spec : args.outputs) {
    auto* out = request.add_outputs();
    const size_t colon = spec.find(":classification=");
    out->set_name(spec.substr(0, colon));
    if (colon != std::string::npos) {
      (*out->mutable_parameters())["classification"].set_int64_param(std::stoll(spec.substr(colon + 16)));
    }
  }
  auto stub = inference::GRPCInferenceService::NewStub(MakeChannel(connection));
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  inference::ModelInferResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = stub->ModelInfer(&context, request, &response);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) return PrintRpcError(status);
  json outputs = json::array();
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& o = response.outputs(i);
    json shape = std::vector<int64_t>(o.shape().begin(), o.shape().end());
    const std::string raw = i < response.raw_output_contents_size() ? response.raw_output_contents(i) : "";
    outputs.push_back({{"name", o.name()}, {"datatype", o.datatype()}, {"shape", shape}, {"data", DecodeRaw(o.datatype(), raw)}});
  }
  PrintJson({{"model_name", response.model_name()},
             {"model_version", response.model_version()},
             {"outputs", outputs},
             {"latency_ms", ms}});
  return 0;
}

}  // namespace protoserve::cli
