#include "typed/typed_contract.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/model_version.h"
#include "core/recommender.h"
#include "core/top_k.h"

namespace protoserve::typed {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string part = Trim(s.substr(start, end - start));
    if (!part.empty()) parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

// Collects the .proto parse errors into one load error.
class ErrorCollector : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    if (!text_.empty()) text_ += "; ";
    text_ += file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string Take() { return std::exchange(text_, {}); }

 private:
  std::string text_;
};

bool IsNumeric(const FD* field) {
  switch (field->cpp_type()) {
    case FD::CPPTYPE_STRING:
    case FD::CPPTYPE_MESSAGE: return false;
    default: return true;
  }
}

bool SupportedTensorType(DataType dtype) {
  return dtype == DataType::kFp32 || dtype == DataType::kFp64 || dtype == DataType::kInt32 ||
         dtype == DataType::kInt64 || dtype == DataType::kBool;
}

// One element of a numeric field (repeated: `index`), as double or int64.
double GetNumber(const pb::Message& m, const pb::Reflection* r, const FD* f, int index) {
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    case FD::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case FD::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FD::CPPTYPE_INT64: return static_cast<double>(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FD::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FD::CPPTYPE_UINT64: return static_cast<double>(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FD::CPPTYPE_BOOL: return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? 1 : 0;
    case FD::CPPTYPE_ENUM: return rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
    default: return 0;
  }
}

int64_t GetInteger(const pb::Message& m, const pb::Reflection* r, const FD* f, int index) {
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FD::CPPTYPE_UINT64: return static_cast<int64_t>(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    default: return static_cast<int64_t>(GetNumber(m, r, f, index));
  }
}

void Store(char* base, DataType dtype, int64_t at, const pb::Message& m, const pb::Reflection* r, const FD* f,
           int index) {
  switch (dtype) {
    case DataType::kFp32: reinterpret_cast<float*>(base)[at] = static_cast<float>(GetNumber(m, r, f, index)); break;
    case DataType::kFp64: reinterpret_cast<double*>(base)[at] = GetNumber(m, r, f, index); break;
    case DataType::kInt32:
      reinterpret_cast<int32_t*>(base)[at] = static_cast<int32_t>(GetInteger(m, r, f, index));
      break;
    case DataType::kInt64: reinterpret_cast<int64_t*>(base)[at] = GetInteger(m, r, f, index); break;
    case DataType::kBool: reinterpret_cast<bool*>(base)[at] = GetNumber(m, r, f, index) != 0; break;
    default: break;
  }
}

// Sets (or, for a repeated field, appends) one number.
void PutNumber(pb::Message* m, const FD* f, double v) {
  const pb::Reflection* r = m->GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_FLOAT: rep ? r->AddFloat(m, f, static_cast<float>(v)) : r->SetFloat(m, f, static_cast<float>(v)); break;
    case FD::CPPTYPE_DOUBLE: rep ? r->AddDouble(m, f, v) : r->SetDouble(m, f, v); break;
    case FD::CPPTYPE_INT32: rep ? r->AddInt32(m, f, static_cast<int32_t>(v)) : r->SetInt32(m, f, static_cast<int32_t>(v)); break;
    case FD::CPPTYPE_INT64: rep ? r->AddInt64(m, f, static_cast<int64_t>(v)) : r->SetInt64(m, f, static_cast<int64_t>(v)); break;
    case FD::CPPTYPE_UINT32: rep ? r->AddUInt32(m, f, static_cast<uint32_t>(v)) : r->SetUInt32(m, f, static_cast<uint32_t>(v)); break;
    case FD::CPPTYPE_UINT64: rep ? r->AddUInt64(m, f, static_cast<uint64_t>(v)) : r->SetUInt64(m, f, static_cast<uint64_t>(v)); break;
    case FD::CPPTYPE_BOOL: rep ? r->AddBool(m, f, v != 0) : r->SetBool(m, f, v != 0); break;
    case FD::CPPTYPE_ENUM: rep ? r->AddEnumValue(m, f, static_cast<int>(v)) : r->SetEnumValue(m, f, static_cast<int>(v)); break;
    default: break;
  }
}

void PutLabel(pb::Message* m, const FD* f, const std::vector<std::string>& labels, int64_t index) {
  if (f->cpp_type() != FD::CPPTYPE_STRING) return PutNumber(m, f, static_cast<double>(index));
  const pb::Reflection* r = m->GetReflection();
  if (f->is_repeated()) {
    r->AddString(m, f, labels[index]);
  } else {
    r->SetString(m, f, labels[index]);
  }
}

// The first row of an output tensor as floats.
StatusOr<std::vector<float>> RowOf(const InferenceResponse& response, const std::string& name, bool batched) {
  for (const NamedTensor& out : response.outputs) {
    if (out.name != name) continue;
    const Tensor& t = out.tensor;
    int64_t n = t.element_count();
    if (batched && !t.shape().empty() && t.shape()[0] > 0) n /= t.shape()[0];
    std::vector<float> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      switch (t.dtype()) {
        case DataType::kFp32: values[i] = t.data_as<float>()[i]; break;
        case DataType::kFp64: values[i] = static_cast<float>(t.data_as<double>()[i]); break;
        case DataType::kInt32: values[i] = static_cast<float>(t.data_as<int32_t>()[i]); break;
        case DataType::kInt64: values[i] = static_cast<float>(t.data_as<int64_t>()[i]); break;
        case DataType::kBool: values[i] = t.data_as<bool>()[i] ? 1.0f : 0.0f; break;
        default: return Internal("output '" + name + "' has unsupported type " + std::string(DataTypeName(t.dtype())));
      }
    }
    return values;
  }
  return Internal("the model did not return output '" + name + "'");
}

void Softmax(std::vector<float>* v) {
  if (v->empty()) return;
  const float max = *std::max_element(v->begin(), v->end());
  double sum = 0;
  for (float& x : *v) sum += (x = std::exp(x - max));
  for (float& x : *v) x = static_cast<float>(x / sum);
}

}  // namespace

ContractLoader TypedContract::Loader() {
  return [](const ModelConfig& config,
            const std::filesystem::path& model_dir) -> StatusOr<std::shared_ptr<const ModelContract>> {
    ASSIGN_OR_RETURN(std::shared_ptr<const TypedContract> contract, Load(config, model_dir));
    return std::shared_ptr<const ModelContract>(std::move(contract));
  };
}

std::shared_ptr<const TypedContract> ContractOf(const ModelVersion& model) {
  return std::dynamic_pointer_cast<const TypedContract>(model.contract());
}

StatusOr<std::shared_ptr<const TypedContract>> TypedContract::Load(const ModelConfig& config,
                                                                   const std::filesystem::path& model_dir) {
  auto method = ConfigParameter(config, kMethodParameter);
  if (!method) return std::shared_ptr<const TypedContract>();
  std::shared_ptr<TypedContract> self(new TypedContract());
  auto protos = ConfigParameter(config, kProtoParameter);
  if (!protos || Split(*protos, ',').empty()) {
    return InvalidArgument(std::string("typed API: parameter '") + kProtoParameter + "' names no .proto file");
  }
  self->proto_files_ = Split(*protos, ',');
  self->source_tree_ = std::make_unique<pb::compiler::DiskSourceTree>();
  self->source_tree_->MapPath("", model_dir.string());
  // Protobuf's well-known types (google/protobuf/timestamp.proto, ...) may be imported.
  self->source_tree_->MapPath("google/protobuf", "/usr/include/google/protobuf");
  auto errors = std::make_unique<ErrorCollector>();
  ErrorCollector* collector = errors.get();
  self->errors_ = std::move(errors);
  self->importer_ = std::make_unique<pb::compiler::Importer>(self->source_tree_.get(), self->errors_.get());
  for (const std::string& file : self->proto_files_) {
    // DiskSourceTree refuses absolute paths and "..": nothing outside the model folder is read.
    if (file.front() == '/' || file.find("..") != std::string::npos) {
      return InvalidArgument("typed API: .proto path '" + file + "' must be relative to the model folder");
    }
    if (self->importer_->Import(file) == nullptr) {
      std::string why = collector->Take();
      return InvalidArgument("typed API: cannot parse " + file + ": " + (why.empty() ? "file not found" : why));
    }
  }
  const size_t slash = method->find('/');
  if (slash == std::string::npos) {
    return InvalidArgument("typed API: typed.method '" + *method + "' must be package.Service/Method");
  }
  const std::string service_name = method->substr(0, slash);
  const std::string method_name = method->substr(slash + 1);
  const pb::ServiceDescriptor* service = self->pool()->FindServiceByName(service_name);
  if (!service) return InvalidArgument("typed API: service '" + service_name + "' is not defined by " + *protos);
  self->method_ = service->FindMethodByName(method_name);
  if (!self->method_) {
    return InvalidArgument("typed API: service '" + service_name + "' has no method '" + method_name + "'");
  }
  if (self->method_->client_streaming() || self->method_->server_streaming()) {
    return InvalidArgument("typed API: method '" + *method + "' streams; only unary methods are served");
  }
  self->method_path_ = "/" + service->full_name() + "/" + method_name;
  self->factory_ = std::make_unique<pb::DynamicMessageFactory>(self->pool());
  self->request_prototype_ = self->factory_->GetPrototype(self->method_->input_type());
  self->response_prototype_ = self->factory_->GetPrototype(self->method_->output_type());
  RETURN_IF_ERROR(self->Plan(config));
  return std::shared_ptr<const TypedContract>(std::move(self));
}

namespace {

// "a.b.c" through singular messages of `type`.
StatusOr<FieldPath> ResolvePath(const pb::Descriptor* type, const std::string& path, const std::string& where) {
  FieldPath out;
  out.name = path;
  const pb::Descriptor* current = type;
  for (const std::string& part : Split(path, '.')) {
    if (!current) return InvalidArgument(where + ": '" + path + "' goes through a field that is not a message");
    const FD* field = current->FindFieldByName(part);
    if (!field) return InvalidArgument(where + ": message " + current->full_name() + " has no field '" + part + "'");
    if (!out.fields.empty() && out.fields.back()->is_repeated()) {
      return InvalidArgument(where + ": '" + path + "' goes through a repeated field");
    }
    out.fields.push_back(field);
    current = field->cpp_type() == FD::CPPTYPE_MESSAGE ? field->message_type() : nullptr;
  }
  if (out.fields.empty()) return InvalidArgument(where + ": empty field path");
  return out;
}

// A response target: "field" or "repeated_message.field".
StatusOr<Target> ResolveTarget(const pb::Descriptor* type, const std::string& path, const std::string& where) {
  Target t;
  t.name = path;
  std::vector<std::string> parts = Split(path, '.');
  if (parts.size() == 2) {
    t.repeated_message = type->FindFieldByName(parts[0]);
    if (!t.repeated_message || !t.repeated_message->is_repeated() ||
        t.repeated_message->cpp_type() != FD::CPPTYPE_MESSAGE) {
      return InvalidArgument(where + ": '" + parts[0] + "' is not a repeated message field of " + type->full_name());
    }
    type = t.repeated_message->message_type();
    parts.erase(parts.begin());
  }
  if (parts.size() != 1) return InvalidArgument(where + ": target '" + path + "' must be field or message.field");
  t.field = type->FindFieldByName(parts[0]);
  if (!t.field) return InvalidArgument(where + ": message " + type->full_name() + " has no field '" + parts[0] + "'");
  if (t.field->cpp_type() == FD::CPPTYPE_MESSAGE) {
    return InvalidArgument(where + ": field '" + path + "' is a message, not a value");
  }
  return t;
}

bool ParseDouble(const std::string& s, double* out) {
  std::istringstream in(s);
  in >> *out;
  return in && in.eof();
}

}  // namespace

Status TypedContract::Plan(const ModelConfig& config) {
  const pb::Descriptor* request = method_->input_type();
  const pb::Descriptor* response = method_->output_type();
  const bool batched = config.max_batch_size() > 0;
  // Inputs: every parameter typed.input.<tensor>, and every config input must have one.
  for (const auto& [key, value] : config.parameters()) {
    if (!key.starts_with(kInputPrefix)) continue;
    const std::string tensor = key.substr(std::strlen(kInputPrefix));
    if (std::none_of(config.input().begin(), config.input().end(), [&](const auto& i) { return i.name() == tensor; })) {
      return InvalidArgument("typed API: " + key + " maps fields to input tensor '" + tensor +
                             "', which the model does not have");
    }
  }
  for (const auto& input : config.input()) {
    const std::string key = kInputPrefix + input.name();
    auto spec = ConfigParameter(config, key);
    if (!spec) {
      if (input.optional()) continue;
      return InvalidArgument("typed API: input tensor '" + input.name() + "' has no mapping (parameter '" + key + "')");
    }
    InputPlan plan;
    plan.tensor = input.name();
    plan.dtype = FromConfigDataType(input.data_type());
    if (!SupportedTensorType(plan.dtype)) {
      return InvalidArgument("typed API: input tensor '" + input.name() + "' has type " +
                             std::string(DataTypeName(plan.dtype)) + " (FP32, FP64, INT32, INT64 or BOOL only)");
    }
    if (batched) plan.shape.push_back(1);
    int64_t fixed = 1;
    for (int64_t d : input.dims()) {
      if (d < 0) {
        if (plan.variable_dim >= 0) {
          return InvalidArgument("typed API: input tensor '" + input.name() + "' has more than one variable dim");
        }
        plan.variable_dim = static_cast<int>(plan.shape.size());
      } else {
        fixed *= d;
      }
      plan.shape.push_back(d);
    }
    plan.elements = plan.variable_dim >= 0 ? -1 : fixed;
    const std::string where = "typed API: " + key;
    std::string text = Trim(*spec);
    if (text.starts_with("hash(") && text.ends_with(")")) {
      plan.user_hash = true;
      ASSIGN_OR_RETURN(FieldPath path, ResolvePath(request, Trim(text.substr(5, text.size() - 6)), where));
      if (path.leaf()->cpp_type() != FD::CPPTYPE_STRING || path.leaf()->is_repeated()) {
        return InvalidArgument(where + ": hash() needs a string field, '" + path.name + "' is not one");
      }
      if (plan.dtype != DataType::kInt64 || plan.elements != 1) {
        return InvalidArgument(where + ": hash(" + path.name + ") fills one INT64, input tensor '" + input.name() +
                               "' is " + std::string(DataTypeName(plan.dtype)) + " " + ShapeToString(plan.shape));
      }
      plan.fields.push_back(std::move(path));
      inputs_.push_back(std::move(plan));
      continue;
    }
    int64_t scalars = 0;
    int repeated = 0;
    for (const std::string& name : Split(text, ',')) {
      ASSIGN_OR_RETURN(FieldPath path, ResolvePath(request, name, where));
      if (!IsNumeric(path.leaf())) {
        return InvalidArgument(where + ": field '" + name + "' is not numeric (input tensor '" + input.name() +
                               "' is " + std::string(DataTypeName(plan.dtype)) + ")");
      }
      path.leaf()->is_repeated() ? ++repeated : ++scalars;
      plan.fields.push_back(std::move(path));
    }
    if (plan.fields.empty()) return InvalidArgument(where + ": no field named");
    if (repeated > 1) return InvalidArgument(where + ": at most one repeated field per input tensor");
    if (plan.elements >= 0 && ((repeated == 0 && scalars != plan.elements) || scalars > plan.elements)) {
      return InvalidArgument(where + ": " + std::to_string(scalars) + " scalar field(s) for input tensor '" +
                             input.name() + "' of " + std::to_string(plan.elements) + " elements (dims " +
                             ShapeToString(Shape(input.dims().begin(), input.dims().end())) + ")");
    }
    inputs_.push_back(std::move(plan));
  }
  // Outputs.
  for (const auto& [key, value] : config.parameters()) {
    if (!key.starts_with(kOutputPrefix)) continue;
    OutputPlan plan;
    plan.tensor = key.substr(std::strlen(kOutputPrefix));
    const std::string where = "typed API: " + key;
    for (int i = 0; i < config.output_size(); ++i) {
      if (config.output(i).name() == plan.tensor) plan.index = i;
    }
    if (plan.index < 0) {
      return InvalidArgument(where + " writes output tensor '" + plan.tensor + "', which the model does not have");
    }
    const auto& output = config.output(plan.index);
    int64_t elements = 1;
    for (int64_t d : output.dims()) elements = d < 0 ? -1 : (elements < 0 ? -1 : elements * d);
    for (const std::string& step_text : Split(value.string_value(), ';')) {
      std::vector<std::string> tokens = Split(step_text, ' ');
      OutputStep step;
      const std::string kind = tokens.front();
      if (kind == "copy") step.kind = OutputStep::kCopy;
      else if (kind == "top_k") step.kind = OutputStep::kTopK;
      else if (kind == "argmax") step.kind = OutputStep::kArgmax;
      else if (kind == "threshold") step.kind = OutputStep::kThreshold;
      else return InvalidArgument(where + ": unknown step '" + kind + "' (copy, top_k, argmax, threshold)");
      for (size_t t = 1; t < tokens.size(); ++t) {
        const std::string& token = tokens[t];
        const size_t eq = token.find('=');
        const std::string k = token.substr(0, eq);
        const std::string v = eq == std::string::npos ? "" : token.substr(eq + 1);
        double number = 0;
        if (k == "softmax" && eq == std::string::npos) step.softmax = true;
        else if (k == "binary" && eq == std::string::npos) step.binary = true;
        else if (k == "to") { ASSIGN_OR_RETURN(step.to, ResolveTarget(response, v, where)); }
        else if (k == "label") { ASSIGN_OR_RETURN(step.label, ResolveTarget(response, v, where)); }
        else if (k == "score" || k == "probability") { ASSIGN_OR_RETURN(step.score, ResolveTarget(response, v, where)); }
        else if (k == "labels") step.labels = Split(v, ',');
        else if ((k == "below" || k == "above") && ParseDouble(v, &number)) { step.threshold = number; step.below = k == "below"; }
        else if ((k == "default_k" || k == "max_k") && ParseDouble(v, &number) && number >= 1) {
          (k == "max_k" ? step.max_k : step.default_k) = static_cast<int32_t>(number);
        } else if (k == "k") {
          if (ParseDouble(v, &number) && number >= 1) {
            step.default_k = static_cast<int32_t>(number);
          } else {
            ASSIGN_OR_RETURN(FieldPath path, ResolvePath(request, v, where));
            if (path.fields.size() != 1 || path.leaf()->is_repeated() || !IsNumeric(path.leaf())) {
              return InvalidArgument(where + ": k=" + v + " must be a number or a top-level integer request field");
            }
            step.k_field = path.leaf();
          }
        } else {
          return InvalidArgument(where + ": cannot read '" + token + "' in step '" + step_text + "'");
        }
      }
      const bool ranked = step.kind == OutputStep::kTopK || step.kind == OutputStep::kArgmax;
      if (ranked) {
        if (!step.label.field && !step.score.field) return InvalidArgument(where + ": " + kind + " needs label= or score=");
        if (step.label.repeated_message && step.score.repeated_message &&
            step.label.repeated_message != step.score.repeated_message) {
          return InvalidArgument(where + ": label= and score= must be in the same repeated message");
        }
        const bool label_is_text = step.label.field && step.label.field->cpp_type() == FD::CPPTYPE_STRING;
        if (label_is_text && step.labels.empty() && output.label_filename().empty()) {
          return InvalidArgument(where + ": label field '" + step.label.name + "' is a string but output tensor '" +
                                 plan.tensor + "' has no label_filename (or give labels=a,b,...)");
        }
        if (step.label.field && !label_is_text && !IsNumeric(step.label.field)) {
          return InvalidArgument(where + ": label field '" + step.label.name + "' must be a string or an integer");
        }
        if (step.score.field && !IsNumeric(step.score.field)) {
          return InvalidArgument(where + ": score field '" + step.score.name + "' is not numeric");
        }
        if (step.binary && elements != 1) {
          return InvalidArgument(where + ": binary needs an output of one element, tensor '" + plan.tensor + "' has " +
                                 std::to_string(elements));
        }
        const int64_t classes = step.binary ? 2 : elements;
        if (!step.labels.empty() && classes >= 0 && static_cast<int64_t>(step.labels.size()) != classes) {
          return InvalidArgument(where + ": " + std::to_string(step.labels.size()) + " labels for " +
                                 std::to_string(classes) + " classes of output tensor '" + plan.tensor + "'");
        }
        if (step.kind == OutputStep::kTopK) {
          for (const Target* t : {&step.label, &step.score}) {
            if (t->field && !t->repeated_message && !t->field->is_repeated()) {
              return InvalidArgument(where + ": top_k writes several values, field '" + t->name + "' is not repeated");
            }
          }
        } else {
          for (const Target* t : {&step.label, &step.score}) {
            if (t->field && (t->repeated_message || t->field->is_repeated())) {
              return InvalidArgument(where + ": argmax writes one value, field '" + t->name + "' is repeated");
            }
          }
        }
      } else {
        if (!step.to.field || step.to.repeated_message) {
          return InvalidArgument(where + ": " + kind + " needs to=<top-level response field>");
        }
        if (!IsNumeric(step.to.field)) return InvalidArgument(where + ": field '" + step.to.name + "' is not numeric");
        if (step.kind == OutputStep::kThreshold && step.to.field->cpp_type() != FD::CPPTYPE_BOOL) {
          return InvalidArgument(where + ": threshold writes a bool, field '" + step.to.name + "' is not one");
        }
        if (!step.to.field->is_repeated() && elements != 1) {
          return InvalidArgument(where + ": field '" + step.to.name + "' holds one value, output tensor '" +
                                 plan.tensor + "' has " + (elements < 0 ? "a variable number of" : std::to_string(elements)) +
                                 " elements");
        }
      }
      plan.steps.push_back(std::move(step));
    }
    if (plan.steps.empty()) return InvalidArgument(where + ": no step");
    requested_outputs_.push_back(plan.tensor);
    outputs_.push_back(std::move(plan));
  }
  if (outputs_.empty()) {
    return InvalidArgument(std::string("typed API: no output mapping (parameters '") + kOutputPrefix + "<tensor>')");
  }
  if (auto key = ConfigParameter(config, kRoutingKeyParameter)) {
    ASSIGN_OR_RETURN(FieldPath path, ResolvePath(request, *key, std::string("typed API: ") + kRoutingKeyParameter));
    if (path.fields.size() != 1 || path.leaf()->cpp_type() != FD::CPPTYPE_STRING || path.leaf()->is_repeated()) {
      return InvalidArgument(std::string("typed API: ") + kRoutingKeyParameter + " must be a top-level string field");
    }
    routing_key_ = path.leaf();
  }
  return Status::Ok();
}

pb::Message* TypedContract::NewRequest(pb::Arena* arena) const { return request_prototype_->New(arena); }
pb::Message* TypedContract::NewResponse(pb::Arena* arena) const { return response_prototype_->New(arena); }

namespace {

// The message holding `path`'s leaf, or an error naming the unset field.
StatusOr<const pb::Message*> Walk(const pb::Message& root, const FieldPath& path) {
  const pb::Message* m = &root;
  for (size_t i = 0; i + 1 < path.fields.size(); ++i) {
    const FD* f = path.fields[i];
    if (!m->GetReflection()->HasField(*m, f)) return InvalidArgument("field '" + f->name() + "' is not set");
    m = &m->GetReflection()->GetMessage(*m, f);
  }
  const FD* leaf = path.leaf();
  if (!leaf->is_repeated() && leaf->has_presence() && !m->GetReflection()->HasField(*m, leaf)) {
    return InvalidArgument("field '" + path.name + "' is not set");
  }
  return m;
}

}  // namespace

Status TypedContract::Decode(const pb::Message& request, DecodedRequest* out) const {
  out->request.inputs.reserve(inputs_.size());
  for (const InputPlan& plan : inputs_) {
    if (plan.user_hash) {
      ASSIGN_OR_RETURN(const pb::Message* m, Walk(request, plan.fields[0]));
      const std::string& text = m->GetReflection()->GetStringReference(*m, plan.fields[0].leaf(), nullptr);
      if (text.empty() || text.size() > kMaxUserIdBytes) {
        return InvalidArgument("field '" + plan.fields[0].name + "' must hold 1 to " + std::to_string(kMaxUserIdBytes) +
                               " bytes");
      }
      Tensor t = Tensor::Allocate(DataType::kInt64, plan.shape, sizeof(int64_t));
      reinterpret_cast<int64_t*>(t.mutable_data())[0] = static_cast<int64_t>(UserHash(text));
      if (out->routing_key.empty()) out->routing_key = text;
      out->request.inputs.push_back({plan.tensor, std::move(t)});
      continue;
    }
    // Count first: one repeated field takes whatever the scalars leave.
    std::vector<const pb::Message*> holders;
    holders.reserve(plan.fields.size());
    int64_t total = 0;
    const FieldPath* repeated = nullptr;
    int64_t repeated_count = 0;
    for (const FieldPath& path : plan.fields) {
      ASSIGN_OR_RETURN(const pb::Message* m, Walk(request, path));
      holders.push_back(m);
      if (path.leaf()->is_repeated()) {
        repeated = &path;
        repeated_count = m->GetReflection()->FieldSize(*m, path.leaf());
        total += repeated_count;
      } else {
        total += 1;
      }
    }
    Shape shape = plan.shape;
    if (plan.elements >= 0 && total != plan.elements) {
      return InvalidArgument("field '" + repeated->name + "': expected " +
                             std::to_string(plan.elements - (total - repeated_count)) + " values, got " +
                             std::to_string(repeated_count) + " (input '" + plan.tensor + "')");
    }
    if (plan.variable_dim >= 0) {
      int64_t rest = 1;
      for (size_t d = 0; d < shape.size(); ++d) {
        if (static_cast<int>(d) != plan.variable_dim) rest *= shape[d];
      }
      if (rest == 0 || total % rest != 0 || total == 0) {
        return InvalidArgument("field '" + (repeated ? repeated->name : plan.fields[0].name) + "': " +
                               std::to_string(total) + " values do not fill input '" + plan.tensor + "' " +
                               ShapeToString(plan.shape));
      }
      shape[plan.variable_dim] = total / rest;
    }
    Tensor t = Tensor::Allocate(plan.dtype, shape, static_cast<size_t>(total) * DataTypeSize(plan.dtype));
    char* base = t.mutable_data();
    int64_t at = 0;
    for (size_t i = 0; i < plan.fields.size(); ++i) {
      const pb::Message& m = *holders[i];
      const FD* f = plan.fields[i].leaf();
      const pb::Reflection* r = m.GetReflection();
      if (!f->is_repeated()) {
        Store(base, plan.dtype, at++, m, r, f, 0);
        continue;
      }
      const int n = r->FieldSize(m, f);
      if (plan.dtype == DataType::kFp32 && f->cpp_type() == FD::CPPTYPE_FLOAT) {
        // The hot case (pixels, features): one pass over the field's values.
        const auto values = r->GetRepeatedFieldRef<float>(m, f);
        float* dst = reinterpret_cast<float*>(base) + at;
        for (int j = 0; j < n; ++j) dst[j] = values.Get(j);
        at += n;
        continue;
      }
      for (int j = 0; j < n; ++j) Store(base, plan.dtype, at++, m, r, f, j);
    }
    if (plan.dtype == DataType::kFp32) {
      const float* v = reinterpret_cast<const float*>(base);
      for (int64_t j = 0; j < total; ++j) {
        if (!std::isfinite(v[j])) {
          // Name the field the value came from.
          int64_t offset = 0;
          for (size_t i = 0; i < plan.fields.size(); ++i) {
            const FD* f = plan.fields[i].leaf();
            const int64_t n = f->is_repeated() ? holders[i]->GetReflection()->FieldSize(*holders[i], f) : 1;
            if (j < offset + n) return InvalidArgument("field '" + plan.fields[i].name + "' is not finite");
            offset += n;
          }
        }
      }
    }
    out->request.inputs.push_back({plan.tensor, std::move(t)});
  }
  out->request.requested_outputs = requested_outputs_;
  if (routing_key_) out->routing_key = request.GetReflection()->GetString(request, routing_key_);
  return Status::Ok();
}

Status TypedContract::Encode(const pb::Message& request, const InferenceResponse& response, const ModelVersion& model,
                             pb::Message* out) const {
  return Encode(request, response, model.config().max_batch_size() > 0,
                [&model](int index) -> const std::vector<std::string>& { return model.labels(index); }, out);
}

Status TypedContract::Encode(const pb::Message& request, const InferenceResponse& response, bool batched,
                             const Labels& labels_of, pb::Message* out) const {
  for (const OutputPlan& plan : outputs_) {
    ASSIGN_OR_RETURN(std::vector<float> values, RowOf(response, plan.tensor, batched));
    for (const OutputStep& step : plan.steps) {
      const pb::Reflection* r = out->GetReflection();
      switch (step.kind) {
        case OutputStep::kCopy:
          if (!step.to.field->is_repeated() && values.size() != 1) {
            return Internal("output '" + plan.tensor + "' has " + std::to_string(values.size()) +
                            " values for field '" + step.to.name + "'");
          }
          for (float v : values) PutNumber(out, step.to.field, v);
          break;
        case OutputStep::kThreshold:
          if (values.empty()) return Internal("output '" + plan.tensor + "' is empty");
          r->SetBool(out, step.to.field, step.below ? values[0] < step.threshold : values[0] >= step.threshold);
          break;
        case OutputStep::kTopK:
        case OutputStep::kArgmax: {
          std::vector<float> probs = values;
          if (step.binary) {
            if (values.empty()) return Internal("output '" + plan.tensor + "' is empty");
            probs = {1.0f - values[0], values[0]};
          } else if (step.softmax) {
            Softmax(&probs);
          }
          const std::vector<std::string>& labels = step.labels.empty() ? labels_of(plan.index) : step.labels;
          int64_t k = 1;
          if (step.kind == OutputStep::kTopK) {
            k = step.default_k;
            if (step.k_field) {
              const int64_t asked = GetInteger(request, request.GetReflection(), step.k_field, 0);
              if (asked < 0) return InvalidArgument("field '" + step.k_field->name() + "' must not be negative");
              if (asked > step.max_k) {
                return InvalidArgument("field '" + step.k_field->name() + "' must be at most " +
                                       std::to_string(step.max_k));
              }
              if (asked > 0) k = asked;
            }
          }
          k = std::min<int64_t>(k, static_cast<int64_t>(probs.size()));
          const std::vector<int32_t> best = TopK(probs, static_cast<int32_t>(k));
          const bool text = step.label.field && step.label.field->cpp_type() == FD::CPPTYPE_STRING;
          for (int32_t index : best) {
            if (text && index >= static_cast<int32_t>(labels.size())) {
              return Internal("output '" + plan.tensor + "': class " + std::to_string(index) + " has no label");
            }
            pb::Message* row = out;
            const FD* group = step.label.repeated_message ? step.label.repeated_message : step.score.repeated_message;
            if (group) row = r->AddMessage(out, group);
            if (step.label.field) PutLabel(row, step.label.field, labels, index);
            if (step.score.field) PutNumber(row, step.score.field, probs[index]);
          }
          break;
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace protoserve::typed
