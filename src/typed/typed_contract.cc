#include "typed/typed_contract.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

#include "core/model_version.h"
#include "typed/parameter_text.h"

namespace protoserve::typed {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

namespace {

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
  const size_t slash = method->find('/');
  if (slash == std::string::npos) {
    return InvalidArgument("typed API: typed.method '" + *method + "' must be package.Service/Method");
  }
  const std::string service_name = method->substr(0, slash);
  const std::string method_name = method->substr(slash + 1);
  auto protos = ConfigParameter(config, kProtoParameter);
  if (!protos || Split(*protos, ',').empty()) {
    // No .proto of its own: only a contract compiled into the server (its generated descriptors).
    if (!pb::DescriptorPool::generated_pool()->FindServiceByName(service_name)) {
      return InvalidArgument(std::string("typed API: parameter '") + kProtoParameter + "' names no .proto file");
    }
    protos = "";
  } else {
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
  }
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
  if (auto stream = ConfigParameter(config, kStreamMethodParameter)) {
    const std::string where = std::string("typed API: ") + kStreamMethodParameter;
    const size_t at = stream->find('/');
    self->stream_method_ = at == std::string::npos || stream->substr(0, at) != service_name
                               ? nullptr
                               : service->FindMethodByName(stream->substr(at + 1));
    if (!self->stream_method_) {
      return InvalidArgument(where + ": '" + *stream + "' is not a method of service '" + service_name + "'");
    }
    if (!self->stream_method_->client_streaming() || !self->stream_method_->server_streaming() ||
        self->stream_method_->input_type() != self->method_->input_type() ||
        self->stream_method_->output_type() != self->method_->output_type()) {
      return InvalidArgument(where + ": '" + *stream + "' must stream both ways the messages of " + *method);
    }
  }
  if (self->stream_method_) self->stream_method_path_ = "/" + service->full_name() + "/" + self->stream_method_->name();
  self->UseCompiledService();
  if (self->stream_method_ && !self->compiled_) {
    return InvalidArgument(std::string("typed API: ") + kStreamMethodParameter +
                           ": streaming methods are served only for a contract compiled into the server");
  }
  if (self->compiled_) {
    pb::MessageFactory* generated = pb::MessageFactory::generated_factory();
    self->request_prototype_ = generated->GetPrototype(self->method_->input_type());
    self->response_prototype_ = generated->GetPrototype(self->method_->output_type());
  } else {
    self->factory_ = std::make_unique<pb::DynamicMessageFactory>(self->pool());
    self->request_prototype_ = self->factory_->GetPrototype(self->method_->input_type());
    self->response_prototype_ = self->factory_->GetPrototype(self->method_->output_type());
  }
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
  RETURN_IF_ERROR(PlanSelectionAndReplies(config));
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
  // Outputs, in the config's order.
  for (const auto& [key, value] : config.parameters()) {
    if (!key.starts_with(kOutputPrefix)) continue;
    const std::string tensor = key.substr(std::strlen(kOutputPrefix));
    if (std::none_of(config.output().begin(), config.output().end(), [&](const auto& o) { return o.name() == tensor; })) {
      return InvalidArgument("typed API: " + key + " writes output tensor '" + tensor +
                             "', which the model does not have");
    }
  }
  for (int index = 0; index < config.output_size(); ++index) {
    const auto& output = config.output(index);
    const std::string key = kOutputPrefix + output.name();
    auto spec = ConfigParameter(config, key);
    if (!spec) continue;
    OutputPlan plan;
    plan.tensor = output.name();
    plan.index = index;
    const std::string where = "typed API: " + key;
    int64_t elements = 1;
    for (int64_t d : output.dims()) elements = d < 0 ? -1 : (elements < 0 ? -1 : elements * d);
    for (const std::string& step_text : Split(*spec, ';')) {
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
        else if (k == "items" && eq == std::string::npos) step.items = true;
        else if (k == "exclude") {
          ASSIGN_OR_RETURN(FieldPath path, ResolvePath(request, v, where));
          if (path.fields.size() != 1 || !path.leaf()->is_repeated() ||
              path.leaf()->cpp_type() != FD::CPPTYPE_STRING) {
            return InvalidArgument(where + ": exclude=" + v + " must be a top-level repeated string request field");
          }
          step.exclude_field = path.leaf();
        }
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
        if ((step.items || step.exclude_field) && step.kind != OutputStep::kTopK) {
          return InvalidArgument(where + ": items and exclude= go with top_k only");
        }
        if ((step.items || step.exclude_field) && (!label_is_text || !step.labels.empty() || step.softmax)) {
          return InvalidArgument(where + ": items and exclude= rank the items of output tensor '" + plan.tensor +
                                 "' by raw score: they need a string label= field and its label_filename "
                                 "(no labels=, no softmax)");
        }
        if (step.items && std::any_of(outputs_.begin(), outputs_.end(), [](const OutputPlan& p) {
              return std::any_of(p.steps.begin(), p.steps.end(), [](const OutputStep& s) { return s.items; });
            })) {
          return InvalidArgument(where + ": only one top_k step may rank items");
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
  for (const OutputPlan& plan : outputs_) {
    for (const OutputStep& step : plan.steps) {
      if (!step.items) continue;
      if (plan.steps.size() != 1) {
        return InvalidArgument(std::string("typed API: ") + kOutputPrefix + plan.tensor +
                               ": a top_k items step is the only step of its output");
      }
      items_step_ = &step;
    }
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

}  // namespace protoserve::typed
