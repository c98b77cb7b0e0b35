// TypedContract's request and response codecs: request message -> input
// tensors (Decode), output tensors -> response message (Encode), through
// Reflection on any google::protobuf::Message. Load and Plan are in
// typed_contract.cc.
#include <google/protobuf/repeated_field.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/model_version.h"
#include "core/recommender.h"
#include "core/tensor_values.h"
#include "core/top_k.h"
#include "typed/typed_contract.h"

namespace protoserve::typed {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

namespace {

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
    auto values = ToFloats(t, n);
    if (!values.ok()) {
      return Internal("output '" + name + "' has unsupported type " + std::string(DataTypeName(t.dtype())));
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

StatusOr<int64_t> TypedContract::RequestedK(const pb::Message& request, const OutputStep& step) const {
  if (!step.k_field) return step.default_k;
  const int64_t asked = GetInteger(request, request.GetReflection(), step.k_field, 0);
  if (asked < 0 || asked > step.max_k) {
    const std::string& name = step.k_field->name();
    if (prefix_errors_) {
      return InvalidArgument(name + ": " + std::to_string(asked) + " is outside [0, " + std::to_string(step.max_k) +
                             "] (0 means " + std::to_string(step.default_k) + ")");
    }
    return InvalidArgument("field '" + name + "' must " +
                           (asked < 0 ? std::string("not be negative") : "be at most " + std::to_string(step.max_k)));
  }
  return asked > 0 ? asked : step.default_k;
}

StatusOr<const std::string*> TypedContract::HashedString(const pb::Message& request, const InputPlan& plan) const {
  ASSIGN_OR_RETURN(const pb::Message* m, Walk(request, plan.fields[0]));
  const std::string& text = m->GetReflection()->GetStringReference(*m, plan.fields[0].leaf(), nullptr);
  if (text.empty() || text.size() > kMaxUserIdBytes) {
    const std::string& name = plan.fields[0].name;
    if (!prefix_errors_) {
      return InvalidArgument("field '" + name + "' must hold 1 to " + std::to_string(kMaxUserIdBytes) + " bytes");
    }
    return InvalidArgument(text.empty() ? name + ": must not be empty"
                                        : name + ": " + std::to_string(text.size()) + " bytes, at most " +
                                              std::to_string(kMaxUserIdBytes) + " allowed");
  }
  return &text;
}

ModelChoice TypedContract::Choice(const pb::Message& request) const {
  ModelChoice choice;
  const pb::Reflection* r = request.GetReflection();
  if (model_name_field_) {
    std::string scratch;
    choice.name = r->GetStringReference(request, model_name_field_, &scratch);
  }
  if (model_version_field_) choice.version = GetInteger(request, r, model_version_field_, 0);
  return choice;
}

Status TypedContract::Decode(const pb::Message& request, DecodedRequest* out) const {
  // The documented order of checks: hashed strings (the routing key), k, then the other fields.
  for (const InputPlan& plan : inputs_) {
    if (plan.user_hash) RETURN_IF_ERROR(HashedString(request, plan).status());
  }
  for (const OutputPlan& plan : outputs_) {
    for (const OutputStep& step : plan.steps) {
      if (step.kind != OutputStep::kTopK) continue;
      ASSIGN_OR_RETURN(const int64_t k, RequestedK(request, step));
      if (!step.items) continue;
      auto ranking = std::make_shared<ItemRanking>();
      ranking->output = plan.tensor;
      ranking->k = static_cast<int32_t>(k);
      if (step.exclude_field) {
        const pb::Reflection* r = request.GetReflection();
        const int n = r->FieldSize(request, step.exclude_field);
        ranking->excluded.reserve(n);
        for (int i = 0; i < n; ++i) ranking->excluded.push_back(r->GetRepeatedString(request, step.exclude_field, i));
      }
      out->ranking = std::move(ranking);
    }
  }
  out->request.inputs.reserve(inputs_.size());
  for (const InputPlan& plan : inputs_) {
    if (plan.user_hash) {
      ASSIGN_OR_RETURN(const std::string* hashed, HashedString(request, plan));
      const std::string& text = *hashed;
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
      const std::string expected = "expected " + std::to_string(plan.elements - (total - repeated_count)) +
                                   " values, got " + std::to_string(repeated_count);
      if (prefix_errors_) return InvalidArgument(repeated->name + ": " + expected);
      return InvalidArgument("field '" + repeated->name + "': " + expected + " (input '" + plan.tensor + "')");
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
        // The hot case (pixels, features): one copy of the field's contiguous
        // values (RepeatedFieldRef would make a virtual call per element).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        const pb::RepeatedField<float>& values = r->GetRepeatedField<float>(m, f);
#pragma GCC diagnostic pop
        if (n > 0) std::memcpy(base + at * sizeof(float), values.data(), static_cast<size_t>(n) * sizeof(float));
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
            if (j < offset + n) {
              const std::string& name = plan.fields[i].name;
              if (!prefix_errors_) return InvalidArgument("field '" + name + "' is not finite");
              return InvalidArgument(name + (f->is_repeated() ? "[" + std::to_string(j - offset) + "]" : "") +
                                     ": must be a finite number, got " + std::to_string(v[j]));
            }
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

Status TypedContract::Encode(const pb::Message& request, const InferResult& result, pb::Message* out) const {
  const ModelVersion& model = *result.model;
  const Answer answer{model.name(), model.version(), result.id, &result.items};
  return Encode(request, result.response, model.config().max_batch_size() > 0,
                [&model](int index) -> const std::vector<std::string>& { return model.labels(index); }, out, answer);
}

Status TypedContract::Encode(const pb::Message& request, const InferenceResponse& response, bool batched,
                             const Labels& labels_of, pb::Message* out, const Answer& answer) const {
  const pb::Reflection* r = out->GetReflection();
  for (const OutputPlan& plan : outputs_) {
    if (&plan.steps.front() == items_step_) {
      // Ranked by the core (InferResult::items): written as they are.
      if (!answer.items) return Internal("output '" + plan.tensor + "' was not ranked");
      // Direct access to the repeated field (RepeatedFieldRef would make a virtual call per element).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      pb::RepeatedPtrField<std::string>* ids = r->MutableRepeatedPtrField<std::string>(out, items_step_->label.field);
#pragma GCC diagnostic pop
      ids->Reserve(static_cast<int>(answer.items->item_ids.size()));
      for (const std::string& id : answer.items->item_ids) ids->Add()->assign(id);
      if (const FD* scores = items_step_->score.field; scores && scores->cpp_type() == FD::CPPTYPE_FLOAT) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        r->MutableRepeatedField<float>(out, scores)->Add(answer.items->scores.begin(), answer.items->scores.end());
#pragma GCC diagnostic pop
      } else if (scores) {
        for (float v : answer.items->scores) PutNumber(out, scores, v);
      }
      continue;
    }
    ASSIGN_OR_RETURN(std::vector<float> values, RowOf(response, plan.tensor, batched));
    for (const OutputStep& step : plan.steps) {
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
            ASSIGN_OR_RETURN(k, RequestedK(request, step));
          }
          k = std::min<int64_t>(k, static_cast<int64_t>(probs.size()));
          std::vector<bool> excluded;
          if (step.exclude_field && request.GetReflection()->FieldSize(request, step.exclude_field) > 0) {
            const auto ids = request.GetReflection()->GetRepeatedFieldRef<std::string>(request, step.exclude_field);
            excluded.assign(probs.size(), false);
            for (size_t i = 0; i < probs.size() && i < labels.size(); ++i) {
              excluded[i] = std::find(ids.begin(), ids.end(), labels[i]) != ids.end();
            }
          }
          const std::vector<int32_t> best =
              TopK(probs, static_cast<int32_t>(k), excluded.empty() ? nullptr : &excluded);
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
  if (reply_model_name_) r->SetString(out, reply_model_name_, std::string(answer.model_name));
  if (reply_model_version_) PutNumber(out, reply_model_version_, static_cast<double>(answer.model_version));
  if (reply_request_id_) r->SetString(out, reply_request_id_, std::string(answer.request_id));
  return Status::Ok();
}

}  // namespace protoserve::typed
