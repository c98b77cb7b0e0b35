// CloudEventsSink: the prediction log as CloudEvents over HTTP, in binary
// content mode, the way KServe's payload logger sends them
// (--prediction-log-url=http://host:port/path), so the log lands in whatever
// the cluster already collects (a Knative broker, a Kafka bridge, a
// message dumper).
//
// One POST per entry, on a kept-alive connection:
//   ce-specversion: 1.0
//   ce-type: org.kubeflow.serving.inference.response   (a prediction)
//            org.protoserve.feedback                   (feedback joined to one)
//   ce-id: the request id           ce-source: `source` (default "protoserve")
//   ce-time: RFC 3339 UTC           ce-inferenceservicename: the model
//   ce-modelversion: the version    content-type: application/json
// and the entry as the JSON body (log_json.h: EventJson). A receiver that
// does not answer 2xx within `timeout` fails the batch (counted in
// protoserve_prediction_log_entries_total{sink="cloudevents",result="failed"}).
//
// Thread-safety: used by one writer thread (PredictionLogWriter) only.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/prediction_log.h"

namespace protoserve {

struct CloudEventsOptions {
  std::string url;                  // http://host[:port][/path]; https is not supported
  std::string source = "protoserve";
  std::chrono::milliseconds timeout{5000};
};

class CloudEventsSink final : public LogSink {
 public:
  // INVALID_ARGUMENT for a URL that is not http://host[:port][/path].
  static StatusOr<std::unique_ptr<LogSink>> Create(CloudEventsOptions options);
  ~CloudEventsSink() override;

  const char* name() const override { return "cloudevents"; }
  Status Write(std::span<const LogEntry> batch) override;

 private:
  struct Connection;
  CloudEventsSink(CloudEventsOptions options, std::string host, std::string port, std::string target);
  Status Post(const LogEntry& entry);

  const CloudEventsOptions options_;
  const std::string host_, port_, target_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace protoserve
