#include "exporters/otlp/otlp_protobuf.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "google/rpc/status.pb.h"

#include <boost/json.hpp>

namespace gw::exporters::otlp {
namespace json = boost::json;
namespace pb = opentelemetry::proto;
namespace {

// "0af7..." -> raw bytes. The ids come from traceIdFor/spanIdFor: always an
// even number of lower-case hex digits.
std::string hexToBytes(const std::string& hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>((nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]));
  return out;
}

void toAnyValue(const json::value& v, pb::common::v1::AnyValue* out);

void toKeyValueList(const json::object& object, pb::common::v1::KeyValueList* out) {
  for (const auto& [k, item] : object) {
    auto* kv = out->add_values();
    kv->set_key(std::string(k));
    toAnyValue(item, kv->mutable_value());
  }
}

// The same mapping as the JSON encoding's toAnyValue (otlp_serializer.h).
void toAnyValue(const json::value& v, pb::common::v1::AnyValue* out) {
  switch (v.kind()) {
    case json::kind::null:
      return;  // the empty AnyValue
    case json::kind::bool_:
      out->set_bool_value(v.get_bool());
      return;
    case json::kind::int64:
      out->set_int_value(v.get_int64());
      return;
    case json::kind::uint64:  // past INT64_MAX: as in the JSON encoding
      out->set_double_value(static_cast<double>(v.get_uint64()));
      return;
    case json::kind::double_:
      out->set_double_value(v.get_double());
      return;
    case json::kind::string:
      out->set_string_value(std::string(v.get_string()));
      return;
    case json::kind::array: {
      auto* values = out->mutable_array_value();
      for (const auto& item : v.get_array()) toAnyValue(item, values->add_values());
      return;
    }
    case json::kind::object:
      toKeyValueList(v.get_object(), out->mutable_kvlist_value());
      return;
  }
}

template <class Repeated>
void addAttributes(const KeyValues& attrs, Repeated* out) {
  for (const auto& a : attrs) {
    auto* kv = out->Add();
    kv->set_key(a.key);
    toAnyValue(a.value, kv->mutable_value());
  }
}

void setScope(pb::common::v1::InstrumentationScope* scope) {
  scope->set_name(kScopeName);
  scope->set_version(GW_VERSION);
}

template <class Message>
std::string serialize(const Message& message) {
  std::string out;
  message.SerializeToString(&out);
  return out;
}

}  // namespace

std::string logsProtobuf(std::span<const RecordPtr> batch, const Attributes& extra) {
  pb::collector::logs::v1::ExportLogsServiceRequest request;
  for (const auto& group : buildLogs(batch, extra)) {
    auto* resource_logs = request.add_resource_logs();
    addAttributes(group.resource, resource_logs->mutable_resource()->mutable_attributes());
    auto* scope_logs = resource_logs->add_scope_logs();
    setScope(scope_logs->mutable_scope());
    for (const auto& l : group.items) {
      auto* log = scope_logs->add_log_records();
      log->set_time_unix_nano(static_cast<std::uint64_t>(l.time_unix_nano));
      log->set_observed_time_unix_nano(static_cast<std::uint64_t>(l.time_unix_nano));
      log->set_severity_number(static_cast<pb::logs::v1::SeverityNumber>(l.severity_number));
      log->set_severity_text(l.severity_text);
      log->set_event_name(l.event_name);
      toKeyValueList(l.record->json(), log->mutable_body()->mutable_kvlist_value());
      addAttributes(l.attributes, log->mutable_attributes());
      log->set_trace_id(hexToBytes(l.trace_id));
      log->set_span_id(hexToBytes(l.span_id));
    }
  }
  return serialize(request);
}

std::string tracesProtobuf(std::span<const RecordPtr> batch, const Attributes& extra) {
  pb::collector::trace::v1::ExportTraceServiceRequest request;
  for (const auto& group : buildTraces(batch, extra)) {
    auto* resource_spans = request.add_resource_spans();
    addAttributes(group.resource, resource_spans->mutable_resource()->mutable_attributes());
    auto* scope_spans = resource_spans->add_scope_spans();
    setScope(scope_spans->mutable_scope());
    for (const auto& s : group.items) {
      auto* span = scope_spans->add_spans();
      span->set_trace_id(hexToBytes(s.trace_id));
      span->set_span_id(hexToBytes(s.span_id));
      span->set_name(s.name);
      span->set_kind(static_cast<pb::trace::v1::Span::SpanKind>(s.kind));
      span->set_start_time_unix_nano(static_cast<std::uint64_t>(s.start_time_unix_nano));
      span->set_end_time_unix_nano(static_cast<std::uint64_t>(s.end_time_unix_nano));
      addAttributes(s.attributes, span->mutable_attributes());
      for (const auto& e : s.events) {
        auto* event = span->add_events();
        event->set_time_unix_nano(static_cast<std::uint64_t>(e.time_unix_nano));
        event->set_name(e.name);
      }
      if (s.error) {
        span->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_ERROR);
        span->mutable_status()->set_message(s.status_message);
      }
    }
  }
  return serialize(request);
}

std::string metricsProtobuf(std::span<const RecordPtr> batch, const Attributes& extra) {
  pb::collector::metrics::v1::ExportMetricsServiceRequest request;
  for (const auto& group : buildMetrics(batch, extra)) {
    auto* resource_metrics = request.add_resource_metrics();
    addAttributes(group.resource, resource_metrics->mutable_resource()->mutable_attributes());
    auto* scope_metrics = resource_metrics->add_scope_metrics();
    setScope(scope_metrics->mutable_scope());
    for (const auto& h : group.items) {
      auto* metric = scope_metrics->add_metrics();
      metric->set_name(h.name);
      metric->set_description(h.description);
      metric->set_unit(h.unit);
      auto* histogram = metric->mutable_histogram();
      histogram->set_aggregation_temporality(
          static_cast<pb::metrics::v1::AggregationTemporality>(HistogramData::kTemporality));
      for (const auto& p : h.points) {
        auto* point = histogram->add_data_points();
        addAttributes(p.attributes, point->mutable_attributes());
        point->set_start_time_unix_nano(static_cast<std::uint64_t>(p.start_time_unix_nano));
        point->set_time_unix_nano(static_cast<std::uint64_t>(p.time_unix_nano));
        point->set_count(p.count);
        point->set_sum(p.sum);
        for (auto b : p.bucket_counts) point->add_bucket_counts(b);
        for (auto b : h.bounds) point->add_explicit_bounds(b);
        point->set_min(p.min);
        point->set_max(p.max);
      }
    }
  }
  return serialize(request);
}

std::optional<std::string> protobufPartialSuccessMessage(std::string_view signal, std::string_view body) {
  auto message = [&](auto response) -> std::optional<std::string> {
    if (!response.ParseFromArray(body.data(), static_cast<int>(body.size()))) return std::nullopt;
    if (!response.has_partial_success() || response.partial_success().error_message().empty()) return std::nullopt;
    return response.partial_success().error_message();
  };
  if (signal == "logs") return message(pb::collector::logs::v1::ExportLogsServiceResponse{});
  if (signal == "traces") return message(pb::collector::trace::v1::ExportTraceServiceResponse{});
  if (signal == "metrics") return message(pb::collector::metrics::v1::ExportMetricsServiceResponse{});
  return std::nullopt;
}

std::optional<std::string> protobufStatusMessage(std::string_view body) {
  google::rpc::Status status;
  if (!status.ParseFromArray(body.data(), static_cast<int>(body.size()))) return std::nullopt;
  return status.message();
}

}  // namespace gw::exporters::otlp
