#include "telemetry/otlp_encoder.h"

namespace protoserve {

namespace otlp = opentelemetry::proto;

namespace {

void SetValue(const AttributeValue& value, otlp::common::v1::AnyValue* out) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    out->set_string_value(*s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    out->set_int_value(*i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    out->set_double_value(*d);
  } else {
    out->set_bool_value(std::get<bool>(value));
  }
}

template <typename Repeated>
void AddAttributes(const std::vector<SpanAttribute>& attributes, Repeated* out) {
  out->Reserve(static_cast<int>(attributes.size()));
  for (const SpanAttribute& attribute : attributes) {
    otlp::common::v1::KeyValue* kv = out->Add();
    kv->set_key(attribute.key.data(), attribute.key.size());
    SetValue(attribute.value, kv->mutable_value());
  }
}

template <size_t N>
std::string Bytes(const std::array<uint8_t, N>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), N);
}

// OTLP span flags: the W3C flags, and whether the parent is known to be remote.
uint32_t Flags(const SpanData& span) {
  uint32_t flags = span.flags | otlp::trace::v1::SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK;
  if (span.remote_parent) flags |= otlp::trace::v1::SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK;
  return flags;
}

}  // namespace

ResourceAttributes ServerResource(const std::string& service_name, const std::string& service_version) {
  return {{"service.name", service_name},
          {"service.version", service_version},
          {"telemetry.sdk.name", "protoserve"},
          {"telemetry.sdk.language", "cpp"}};
}

void EncodeSpans(const std::vector<SpanData>& spans, const ResourceAttributes& resource,
                 otlp::collector::trace::v1::ExportTraceServiceRequest* request) {
  otlp::trace::v1::ResourceSpans* resource_spans = request->add_resource_spans();
  for (const auto& [key, value] : resource) {
    otlp::common::v1::KeyValue* kv = resource_spans->mutable_resource()->add_attributes();
    kv->set_key(key);
    kv->mutable_value()->set_string_value(value);
  }
  otlp::trace::v1::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
  scope_spans->mutable_scope()->set_name("protoserve");
  scope_spans->mutable_spans()->Reserve(static_cast<int>(spans.size()));
  for (const SpanData& span : spans) {
    otlp::trace::v1::Span* out = scope_spans->add_spans();
    out->set_trace_id(Bytes(span.trace_id));
    out->set_span_id(Bytes(span.span_id));
    if (!IsZero(span.parent_span_id)) out->set_parent_span_id(Bytes(span.parent_span_id));
    if (!span.trace_state.empty()) out->set_trace_state(span.trace_state);
    out->set_flags(Flags(span));
    out->set_name(span.name.data(), span.name.size());
    out->set_kind(span.kind == SpanKind::kServer ? otlp::trace::v1::Span::SPAN_KIND_SERVER
                                                 : otlp::trace::v1::Span::SPAN_KIND_INTERNAL);
    out->set_start_time_unix_nano(static_cast<uint64_t>(span.start_unix_nano));
    out->set_end_time_unix_nano(static_cast<uint64_t>(span.end_unix_nano));
    AddAttributes(span.attributes, out->mutable_attributes());
    for (const SpanLink& link : span.links) {
      otlp::trace::v1::Span::Link* l = out->add_links();
      l->set_trace_id(Bytes(link.trace_id));
      l->set_span_id(Bytes(link.span_id));
      l->set_flags(kTraceFlagSampled | otlp::trace::v1::SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK);
      AddAttributes(link.attributes, l->mutable_attributes());
    }
    if (span.error) {
      out->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_ERROR);
      out->mutable_status()->set_message(span.status_message);
    }
  }
}

}  // namespace protoserve
