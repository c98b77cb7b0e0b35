#include "http/proto_json.h"

#include <google/protobuf/descriptor.h>

namespace protoserve {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t chunk = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

// One value of `field`: element `index` of a repeated field, or the
// singular value when index < 0.
void WriteValue(const Message& message, const FieldDescriptor* field, int index, json::Writer& writer) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      writer.Int(repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      writer.Int64(repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      writer.Uint(repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      writer.Uint64(repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      json::WriteDouble(writer, repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      json::WriteFloat(writer, repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      writer.Bool(repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field));
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field);
      json::WriteString(writer, value->name());
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value = repeated ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      json::WriteString(writer, field->type() == FieldDescriptor::TYPE_BYTES ? Base64(value) : json::ValidUtf8(value));
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = repeated ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field);
      const auto* type = sub.GetDescriptor();
      // Wrapper types (google.protobuf.Int64Value ...) as their plain value, as protobuf's JSON mapping has them.
      if (type->file()->name() == "google/protobuf/wrappers.proto" && type->field_count() == 1) {
        WriteValue(sub, type->field(0), -1, writer);
      } else {
        WriteProtoJson(sub, writer);
      }
      break;
    }
  }
}

// A map entry's key as a JSON object key (JSON keys are strings).
std::string MapKey(const Message& entry) {
  const FieldDescriptor* key = entry.GetDescriptor()->map_key();
  const Reflection* r = entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return json::ValidUtf8(r->GetString(entry, key));
    case FieldDescriptor::CPPTYPE_INT32: return std::to_string(r->GetInt32(entry, key));
    case FieldDescriptor::CPPTYPE_INT64: return std::to_string(r->GetInt64(entry, key));
    case FieldDescriptor::CPPTYPE_UINT32: return std::to_string(r->GetUInt32(entry, key));
    case FieldDescriptor::CPPTYPE_UINT64: return std::to_string(r->GetUInt64(entry, key));
    case FieldDescriptor::CPPTYPE_BOOL: return r->GetBool(entry, key) ? "true" : "false";
    default: return "";
  }
}

}  // namespace

void WriteProtoJson(const Message& message, json::Writer& writer) {
  const auto* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  writer.StartObject();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_map()) {
      json::WriteKey(writer, field->name());
      writer.StartObject();
      for (int j = 0; j < r->FieldSize(message, field); ++j) {
        const Message& entry = r->GetRepeatedMessage(message, field, j);
        json::WriteKey(writer, MapKey(entry));
        WriteValue(entry, entry.GetDescriptor()->map_value(), -1, writer);
      }
      writer.EndObject();
    } else if (field->is_repeated()) {
      json::WriteKey(writer, field->name());
      writer.StartArray();
      for (int j = 0; j < r->FieldSize(message, field); ++j) WriteValue(message, field, j, writer);
      writer.EndArray();
    } else if (field->has_presence() && !r->HasField(message, field)) {
      continue;  // unset message field or oneof member
    } else {
      json::WriteKey(writer, field->name());
      WriteValue(message, field, -1, writer);
    }
  }
  writer.EndObject();
}

std::string ProtoToJson(const Message& message) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  WriteProtoJson(message, writer);
  return out;
}

}  // namespace protoserve
