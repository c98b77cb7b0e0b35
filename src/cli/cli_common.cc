#include "cli/cli_common.h"

#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace protoserve::cli {

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
}

void SetDeadline(grpc::ClientContext* context, const ConnectionOptions& options) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options.timeout_secs * 1000)));
}

int PrintRpcError(const grpc::Status& status) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int code = status.error_code();
  nlohmann::json error = {{"error", {{"code", code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN"},
                                     {"message", status.error_message()}}}};
  std::cerr << error.dump(2) << std::endl;
  return 1;
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump(2) << std::endl; }

std::vector<float> ParseFloatList(const std::string& text) {
  std::string list = text;
  if (!text.empty() && text[0] == '@') {
    std::ifstream in(text.substr(1));
    if (!in) throw std::runtime_error("cannot read " + text.substr(1));
    std::stringstream content;
    content << in.rdbuf();
    list = content.str();
  }
  const auto first = list.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && list[first] == '[') return nlohmann::json::parse(list).get<std::vector<float>>();
  std::vector<float> values;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto begin = item.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) continue;
    size_t used = 0;
    values.push_back(std::stof(item.substr(begin), &used));
  }
  return values;
}

}  // namespace protoserve::cli
