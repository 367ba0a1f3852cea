// What the record builder reads of a request's response: the usage the
// request path did not observe, the model that answered, the error type,
// and the response as attributes.response holds it (a body scrubbed in one
// pass, or a stream's assembled response with its chunks spliced in).
//
// Internal to the record builder: called by RecordBuilder::build() on the
// telemetry thread.
#pragma once

#include "gw/provider.h"
#include "gw/record_fields.h"
#include "gw/request_record.h"
#include "telemetry/record_builder.h"

#include <boost/json/storage_ptr.hpp>

#include <optional>
#include <string>

namespace gw {

struct RecordResponse {
  Usage usage;                            // the request path's, else the response's
  std::optional<std::string> model;       // the model that answered, when known
  std::string text;                       // attributes.response's text; empty for null
  bool parsed = false;                    // a whole non-stream body that is JSON
  std::optional<std::string> error_type;  // error.type of that body, or of the stream
};

// Reads `in`'s response. Without `with_record` it is read only for usage
// the request path did not observe, and `text` stays empty. `fields` gets
// the response's model, id and finish reasons; trees built meanwhile live
// in `sp`'s memory.
RecordResponse readRecordResponse(const RequestRecord& in, bool with_record, const RecordBuilderOptions& options,
                                  RecordFields& fields, boost::json::storage_ptr sp);

}  // namespace gw
