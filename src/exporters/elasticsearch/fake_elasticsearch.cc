#include "exporters/elasticsearch/fake_elasticsearch.h"

#include <boost/json.hpp>

namespace gw::exporters::elasticsearch::testing {
namespace json = boost::json;
using exporters::testing::FakeResponse;
using exporters::testing::ReceivedRequest;

namespace {
FakeResponse esError(int status, std::string type, std::string reason) {
  json::object body{{"error", json::object{{"root_cause", json::array{json::object{{"type", type}, {"reason", reason}}}},
                                           {"type", type},
                                           {"reason", reason}}},
                    {"status", status}};
  return FakeResponse::json(status, json::serialize(body));
}
}  // namespace

FakeElasticsearch::FakeElasticsearch()
    : server_([this](const ReceivedRequest& r) { return handle(r); }) {}

void FakeElasticsearch::requireAuthorization(std::string value) {
  std::lock_guard lock(mutex_);
  authorization_ = std::move(value);
}
void FakeElasticsearch::rejectIds(std::set<std::string> ids) {
  std::lock_guard lock(mutex_);
  reject_ids_ = std::move(ids);
}
void FakeElasticsearch::throttleIdsOnce(std::set<std::string> ids) {
  std::lock_guard lock(mutex_);
  throttle_ids_ = std::move(ids);
}
void FakeElasticsearch::failNextRequests(int n, int status, std::string retry_after) {
  std::lock_guard lock(mutex_);
  fail_next_ = n;
  fail_status_ = status;
  fail_retry_after_ = std::move(retry_after);
}
std::map<std::pair<std::string, std::string>, std::string> FakeElasticsearch::documents() const {
  std::lock_guard lock(mutex_);
  return documents_;
}
std::size_t FakeElasticsearch::documentCount() const {
  std::lock_guard lock(mutex_);
  return documents_.size();
}
std::size_t FakeElasticsearch::bulkRequests() const {
  std::lock_guard lock(mutex_);
  return bulk_requests_;
}
std::string FakeElasticsearch::installedTemplate() const {
  std::lock_guard lock(mutex_);
  return template_;
}
std::size_t FakeElasticsearch::protocolViolations() const {
  std::lock_guard lock(mutex_);
  return violations_;
}

FakeResponse FakeElasticsearch::handle(const ReceivedRequest& r) {
  std::lock_guard lock(mutex_);
  if (!authorization_.empty() && r.header("Authorization").value_or("") != authorization_) {
    auto res = esError(401, "security_exception", "missing authentication credentials for REST request");
    res.headers.emplace_back("WWW-Authenticate", "Basic realm=\"security\" charset=\"UTF-8\"");
    return res;
  }
  if (fail_next_ > 0) {
    --fail_next_;
    auto res = fail_status_ == 429 ? esError(429, "es_rejected_execution_exception", "rejected execution")
                                   : esError(fail_status_, "cluster_block_exception", "unavailable");
    if (!fail_retry_after_.empty()) res.headers.emplace_back("Retry-After", fail_retry_after_);
    return res;
  }
  std::string path = r.target.substr(0, r.target.find('?'));
  if (r.method == "GET" && path == "/_cluster/health")
    return FakeResponse::json(200, R"({"cluster_name":"fake","status":"green","number_of_nodes":1})");
  if (r.method == "PUT" && path.rfind("/_index_template/", 0) == 0) {
    json::error_code ec;
    auto v = json::parse(r.body, ec);
    const auto* o = ec ? nullptr : v.if_object();
    if (!o || !o->contains("index_patterns") || !o->contains("template") ||
        !v.at("template").is_object() || !v.at("template").as_object().contains("mappings")) {
      ++violations_;
      return esError(400, "x_content_parse_exception", "malformed index template");
    }
    template_ = r.body;
    return FakeResponse::json(200, R"({"acknowledged":true})");
  }
  if (r.method == "POST" && (path == "/_bulk" || (path.size() > 6 && path.ends_with("/_bulk")))) return bulk(r);
  return esError(404, "resource_not_found_exception", "no handler for " + r.method + " " + path);
}

FakeResponse FakeElasticsearch::bulk(const ReceivedRequest& r) {
  auto violation = [&](std::string reason) {
    ++violations_;
    return esError(400, "illegal_argument_exception", std::move(reason));
  };
  auto ctype = r.header("Content-Type").value_or("");
  if (ctype.rfind("application/x-ndjson", 0) != 0 && ctype.rfind("application/json", 0) != 0)
    return violation("Content-Type header [" + ctype + "] is not supported");
  if (r.body.empty() || r.body.back() != '\n') return violation("The bulk request must be terminated by a newline [\\n]");
  ++bulk_requests_;

  json::array items;
  bool errors = false;
  std::size_t pos = 0;
  while (pos < r.body.size()) {
    auto end = r.body.find('\n', pos);
    std::string action_line = r.body.substr(pos, end - pos);
    pos = end + 1;
    json::error_code ec;
    auto action = json::parse(action_line, ec);
    if (ec || !action.is_object() || action.as_object().size() != 1)
      return violation("Malformed action/metadata line, expected START_OBJECT with one action");
    const auto& [op_key, op_value] = *action.as_object().begin();
    std::string op(op_key);
    if (op != "create" && op != "index") return violation("unexpected action [" + op + "]");
    if (!op_value.is_object()) return violation("action metadata must be an object");
    const auto* index = op_value.as_object().if_contains("_index");
    const auto* id = op_value.as_object().if_contains("_id");
    if (!index || !index->is_string()) return violation("_index is missing");
    if (!id || !id->is_string() || id->as_string().empty()) return violation("_id is missing");
    if (pos >= r.body.size()) return violation("action without a source line");
    end = r.body.find('\n', pos);
    std::string source = r.body.substr(pos, end - pos);
    pos = end + 1;
    auto doc = json::parse(source, ec);
    std::string idx(index->as_string()), did(id->as_string());
    json::object result{{"_index", idx}, {"_id", did}};
    if (ec || !doc.is_object()) {
      result["status"] = 400;
      result["error"] = json::object{{"type", "document_parsing_exception"}, {"reason", "failed to parse"}};
      errors = true;
    } else if (reject_ids_.contains(did)) {
      result["status"] = 400;
      result["error"] = json::object{{"type", "mapper_parsing_exception"},
                                     {"reason", "failed to parse field [attributes.metadata.latency]"}};
      errors = true;
    } else if (throttle_ids_.contains(did)) {
      throttle_ids_.erase(did);
      result["status"] = 429;
      result["error"] = json::object{{"type", "es_rejected_execution_exception"}, {"reason", "queue full"}};
      errors = true;
    } else if (op == "create" && documents_.contains({idx, did})) {
      result["status"] = 409;
      result["error"] = json::object{{"type", "version_conflict_engine_exception"},
                                     {"reason", "[" + did + "]: version conflict, document already exists"}};
      errors = true;
    } else {
      documents_[{idx, did}] = source;
      result["status"] = 201;
      result["result"] = "created";
    }
    items.push_back(json::object{{op, std::move(result)}});
  }
  json::object body{{"took", 3}, {"errors", errors}, {"items", std::move(items)}};
  return FakeResponse::json(200, json::serialize(body));
}

}  // namespace gw::exporters::elasticsearch::testing
