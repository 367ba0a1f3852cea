// Pure functions between request records and Elasticsearch's wire format:
// the _bulk NDJSON body, the reading of its answer, and the index template.
#pragma once

#include "gw/exporter.h"

#include <span>
#include <string>
#include <string_view>

namespace gw::exporters::elasticsearch {

// The index a record goes to: `index`, or `index-YYYY.MM.DD` (from the
// record's own timestamp, so a retry lands in the same index) when
// `date_suffix` is set.
std::string indexFor(const TelemetryRecord& record, std::string_view index, bool date_suffix);

// `_bulk` body: per record a `create` action with `_id` = record id, then the
// record itself; every line ends with '\n'. `create` (not `index`) makes a
// retried record a 409 "already exists" instead of a rewrite.
std::string serializeBulk(std::span<const RecordPtr> batch, std::string_view index, bool date_suffix);

// Reads a `_bulk` answer for a batch of `count` records: items 2xx or 409
// (already indexed) are delivered; 429 and 5xx items are retried; any other
// item status is a permanent rejection of that record.
ExportResult interpretBulkResponse(std::string_view body, std::size_t count);

// The composable index template for `index` and `index-*`: explicit types for
// the fields people filter and aggregate on, request/response bodies kept in
// _source but not indexed, and dynamic mapping off so no record can ever hit
// a mapping conflict (the Rust gateway stringified fields to dodge those).
std::string indexTemplate(std::string_view index);

}  // namespace gw::exporters::elasticsearch
