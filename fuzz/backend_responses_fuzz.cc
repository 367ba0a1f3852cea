// Fuzzes the exporters' readers of what a telemetry backend answers: the
// Elasticsearch _bulk response (per-item statuses decide retry or reject)
// and the OTLP protobuf partial-success and google.rpc.Status bodies. A
// broken or hostile backend must not crash the gateway, and item indexes
// must stay inside the batch.
#include "exporters/elasticsearch/elasticsearch_serializer.h"
#include "exporters/otlp/otlp_protobuf.h"
#include "fuzz_support.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  std::size_t count = 1 + in.below(16);
  std::string_view body = in.rest();

  gw::ExportResult r = gw::exporters::elasticsearch::interpretBulkResponse(body, count);
  for (std::size_t i : r.retry_indexes)
    if (i >= count) std::abort();
  for (std::size_t i : r.rejected_indexes)
    if (i >= count) std::abort();

  for (std::string_view signal : {"logs", "traces", "metrics"})
    (void)gw::exporters::otlp::protobufPartialSuccessMessage(signal, body);
  (void)gw::exporters::otlp::protobufStatusMessage(body);
  return 0;
}
