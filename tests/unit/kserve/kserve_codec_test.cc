#include "kserve/kserve_codec.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

inference::ModelInferRequest Base() {
  inference::ModelInferRequest r;
  r.set_model_name("m");
  auto* in = r.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(2);
  return r;
}

void ExpectInvalid(const inference::ModelInferRequest& r, const std::string& fragment) {
  auto decoded = DecodeInferRequest(r);
  ASSERT_FALSE(decoded.ok()) << fragment;
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find(fragment), std::string::npos) << decoded.status().message();
}

TEST(KServeCodecTest, RawInputsAreViewsNotCopies) {
  auto r = Base();
  float values[2] = {1.5f, -2.f};
  r.add_raw_input_contents(reinterpret_cast<const char*>(values), 8);
  auto decoded = DecodeInferRequest(r);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const Tensor& t = decoded->request.inputs[0].tensor;
  EXPECT_EQ(t.data(), r.raw_input_contents(0).data());
  EXPECT_EQ(t.shape(), (Shape{1, 2}));
  EXPECT_TRUE(decoded->raw_output);
}

TEST(KServeCodecTest, TypedContentsEveryKind) {
  struct Case {
    const char* dtype;
    void (*fill)(inference::InferTensorContents*);
    size_t bytes;
  };
  const Case cases[] = {
      {"FP32", [](auto* c) { c->add_fp32_contents(1); c->add_fp32_contents(2); }, 8},
      {"FP64", [](auto* c) { c->add_fp64_contents(1); c->add_fp64_contents(2); }, 16},
      {"INT8", [](auto* c) { c->add_int_contents(-1); c->add_int_contents(2); }, 2},
      {"INT16", [](auto* c) { c->add_int_contents(-1); c->add_int_contents(2); }, 4},
      {"INT32", [](auto* c) { c->add_int_contents(-1); c->add_int_contents(2); }, 8},
      {"INT64", [](auto* c) { c->add_int64_contents(-1); c->add_int64_contents(2); }, 16},
      {"UINT8", [](auto* c) { c->add_uint_contents(1); c->add_uint_contents(2); }, 2},
      {"UINT16", [](auto* c) { c->add_uint_contents(1); c->add_uint_contents(2); }, 4},
      {"UINT32", [](auto* c) { c->add_uint_contents(1); c->add_uint_contents(2); }, 8},
      {"UINT64", [](auto* c) { c->add_uint64_contents(1); c->add_uint64_contents(2); }, 16},
      {"BOOL", [](auto* c) { c->add_bool_contents(true); c->add_bool_contents(false); }, 2},
      {"BYTES", [](auto* c) { c->add_bytes_contents("ab"); c->add_bytes_contents(""); }, 10},
  };
  for (const Case& c : cases) {
    auto r = Base();
    r.mutable_inputs(0)->set_datatype(c.dtype);
    c.fill(r.mutable_inputs(0)->mutable_contents());
    auto decoded = DecodeInferRequest(r);
    ASSERT_TRUE(decoded.ok()) << c.dtype << ": " << decoded.status().ToString();
    EXPECT_EQ(decoded->request.inputs[0].tensor.byte_size(), c.bytes) << c.dtype;
    EXPECT_FALSE(decoded->raw_output);
  }
  auto r = Base();
  r.mutable_inputs(0)->set_datatype("INT8");
  r.mutable_inputs(0)->mutable_contents()->add_int_contents(-3);
  r.mutable_inputs(0)->mutable_contents()->add_int_contents(7);
  auto decoded = DecodeInferRequest(r);
  EXPECT_EQ(decoded->request.inputs[0].tensor.data_as<int8_t>()[0], -3);
  EXPECT_EQ(decoded->request.inputs[0].tensor.data_as<int8_t>()[1], 7);
}

// Narrow integer types travel widened: out-of-range values are refused, never
// wrapped (300 as INT8 became 44 before), as the REST decoder refuses them.
TEST(KServeCodecTest, NarrowIntegersOutOfRangeAreRefused) {
  for (const auto& [dtype, value] : std::vector<std::pair<std::string, int64_t>>{
           {"INT8", 300}, {"INT8", -129}, {"INT16", 40000}, {"UINT8", 256}, {"UINT16", 70000}}) {
    auto r = Base();
    r.mutable_inputs(0)->set_datatype(dtype);
    auto* c = r.mutable_inputs(0)->mutable_contents();
    if (dtype.starts_with("U")) {
      c->add_uint_contents(1);
      c->add_uint_contents(static_cast<uint32_t>(value));
    } else {
      c->add_int_contents(1);
      c->add_int_contents(static_cast<int32_t>(value));
    }
    ExpectInvalid(r, "value " + std::to_string(value) + " at index 1 is out of range for " + dtype);
  }
}

TEST(KServeCodecTest, RankIsCappedAndLongShapesAreNotQuoted) {
  auto r = Base();
  r.mutable_inputs(0)->clear_shape();
  for (int i = 0; i < 100000; ++i) r.mutable_inputs(0)->add_shape(1);
  auto decoded = DecodeInferRequest(r);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("100000 dimensions, at most 64"), std::string::npos);
  EXPECT_LT(decoded.status().message().size(), 200u);
  EXPECT_EQ(ShapeToString(Shape(20, 2)), "[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,... (20 dims)]");
}

TEST(KServeCodecTest, RejectsMalformedRequests) {
  auto r = Base();
  r.clear_model_name();
  ExpectInvalid(r, "model_name is required");

  r = Base();
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  ExpectInvalid(r, "1 values in fp32_contents, shape [1,2] needs 2");

  r = Base();
  r.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
  r.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
  ExpectInvalid(r, "0 values in fp32_contents");

  r = Base();
  r.add_raw_input_contents(std::string(8, '\0'));
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  ExpectInvalid(r, "both contents and raw_input_contents");

  r = Base();
  r.add_raw_input_contents(std::string(8, '\0'));
  r.add_raw_input_contents(std::string(8, '\0'));
  ExpectInvalid(r, "raw_input_contents has 2 entries for 1 inputs");

  r = Base();
  r.mutable_inputs(0)->set_datatype("FP16");
  ExpectInvalid(r, "FP16 data must be sent in raw_input_contents");

  r = Base();
  r.mutable_inputs(0)->set_datatype("float");
  ExpectInvalid(r, "unknown datatype 'float'");

  r = Base();
  r.mutable_inputs(0)->clear_name();
  ExpectInvalid(r, "inputs[0] has no name");

  r = Base();
  r.mutable_inputs(0)->add_shape(int64_t{1} << 40);
  r.mutable_inputs(0)->add_shape(int64_t{1} << 40);
  ExpectInvalid(r, "more than");

  r = Base();
  r.mutable_inputs(0)->set_shape(1, -2);
  ExpectInvalid(r, "negative dimension");

  r = Base();
  r.set_model_version("v2");
  ExpectInvalid(r, "model_version 'v2'");

  r = Base();
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  auto* out = r.add_outputs();
  out->set_name("y");
  (*out->mutable_parameters())["classification"].set_int64_param(-4);
  ExpectInvalid(r, "classification must be a positive integer");
}

TEST(KServeCodecTest, RequestedOutputsAndClassification) {
  auto r = Base();
  r.add_raw_input_contents(std::string(8, '\0'));
  auto* out = r.add_outputs();
  out->set_name("y");
  (*out->mutable_parameters())["classification"].set_int64_param(3);
  r.add_outputs()->set_name("z");
  auto decoded = DecodeInferRequest(r);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->request.requested_outputs, (std::vector<std::string>{"y", "z"}));
  EXPECT_EQ(decoded->outputs[0].classification, 3);
  EXPECT_EQ(decoded->outputs[1].classification, 0);
}

}  // namespace
}  // namespace protoserve
