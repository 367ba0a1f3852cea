#include "telemetry/record_builder.h"
#include "common/saturating.h"

#include "common/strings.h"
#include "providers/common/forwarding.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <map>
#include <mutex>

namespace gw {

namespace json = boost::json;

namespace {

constexpr std::string_view kRedacted = "[REDACTED]";
constexpr std::size_t kMaxPreviewBytes = 4096;
// Parsing limits for untrusted bodies: depth and size are already bounded by
// MAX_REQUEST_BODY_BYTES / the capture budget; depth guards the stack.
constexpr std::size_t kMaxJsonDepth = 256;

std::optional<json::value> parseJson(std::string_view text, json::storage_ptr sp = {}) {
  if (text.empty()) return std::nullopt;
  json::parse_options opt;
  opt.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, std::move(sp), opt);
  if (ec) return std::nullopt;
  return v;
}

// One record's JSON tree lives in one arena: building it is a pointer bump
// per node instead of a malloc, and since the arena frees nothing one node
// at a time (is_deallocate_trivial below) and is not reference-counted
// (the record owns it), Boost.JSON neither counts references per node nor
// walks the tree to destroy it: the record's memory goes in a few large
// frees. Both were ~10 % of a streamed request's CPU with the console
// exporter (perf, 2026-11-27), and a lock per allocation another 6 %.
//
// Once the record is built the tree is read-only and the arena is sealed.
// An exporter that copy-constructs a subtree still allocates here
// (Boost.JSON copies into the source's storage), from its own thread, so
// allocations after seal() take a lock; such copies live as long as the
// record (documented on TelemetryRecord). While the record is built only
// the building thread can reach the arena, and it takes no lock. `sealed_`
// is a plain bool: seal() runs before the record is handed to the
// exporters' queues, whose hand-off orders it before any read on another
// thread.
class RecordArena final : public json::memory_resource {
 public:
  void seal() { sealed_ = true; }

 private:
  void* do_allocate(std::size_t n, std::size_t align) override {
    if (!sealed_) return arena_.allocate(n, align);
    std::lock_guard lock(mutex_);
    return arena_.allocate(n, align);
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& other) const noexcept override { return this == &other; }

  bool sealed_ = false;
  std::mutex mutex_;
  json::monotonic_resource arena_{4096};
};

}  // namespace
}  // namespace gw

template <>
struct boost::json::is_deallocate_trivial<gw::RecordArena> : std::true_type {};

namespace gw {
namespace {

// Setters that build the value in its slot's own storage (assigning a
// value made elsewhere would copy it across resources). Strings from HTTP
// headers may hold any byte: JSON text must be UTF-8, so invalid sequences
// become U+FFFD (the check is a scan; the copy only happens when needed).
void setString(json::value& slot, std::string_view s) {
  if (isValidUtf8(s)) slot = s;
  else slot = toValidUtf8(s);
}

void setOptionalString(json::value& slot, const std::optional<std::string>& s) {
  if (s) setString(slot, *s);
  else slot = nullptr;
}

void setNonEmptyString(json::value& slot, const std::string& s) {
  if (s.empty()) slot = nullptr;
  else setString(slot, s);
}

json::value optionalInt(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::optional<double> seconds(std::optional<RequestRecord::SteadyTime> from, std::optional<RequestRecord::SteadyTime> to) {
  if (!from || !to) return std::nullopt;
  return std::chrono::duration<double>(*to - *from).count();
}

json::value millis(std::optional<double> s) {
  if (!s) return nullptr;
  return static_cast<std::int64_t>(std::llround(*s * 1000.0));
}

std::string_view statusName(RequestOutcome o) {
  switch (o) {
    case RequestOutcome::kSuccess: return "success";
    case RequestOutcome::kError: return "error";
    case RequestOutcome::kCancelled: return "cancelled";
  }
  return "error";
}

// error.type (or a string "error") of an OpenAI/Anthropic-shaped error body.
std::optional<std::string> errorTypeOf(const json::value& v) {
  if (!v.is_object()) return std::nullopt;
  const auto* e = v.as_object().if_contains("error");
  if (!e) return std::nullopt;
  if (e->is_object()) {
    const auto& eo = e->as_object();
    for (std::string_view key : {"type", "code"})
      if (const auto* t = eo.if_contains(key); t && t->is_string() && !t->as_string().empty())
        return std::string(t->as_string());
  }
  return std::nullopt;
}

void mergeToolCalls(json::array& into, const json::array& deltas) {
  for (const auto& d : deltas) {
    if (!d.is_object()) continue;
    const auto& dobj = d.as_object();
    std::int64_t index = static_cast<std::int64_t>(into.size());
    if (const auto* i = dobj.if_contains("index"); i && i->is_int64()) index = i->as_int64();
    json::object* target = nullptr;
    for (auto& existing : into)
      if (existing.is_object()) {
        const auto* ei = existing.as_object().if_contains("index");
        if (ei && ei->is_int64() && ei->as_int64() == index) target = &existing.as_object();
      }
    if (!target) {
      json::object fresh(into.storage());
      fresh["index"] = index;
      into.push_back(std::move(fresh));
      target = &into.back().as_object();
    }
    for (const auto& [key, value] : dobj) {
      if (key == "index") continue;
      if (key == "function" && value.is_object()) {
        auto& fn = (*target)["function"];
        if (!fn.is_object()) fn.emplace_object();
        for (const auto& [fk, fv] : value.as_object()) {
          auto& slot = fn.as_object()[fk];
          if (fk == "arguments" && fv.is_string() && slot.is_string())
            slot.as_string().append(fv.as_string());
          else if (!fv.is_null())
            slot = fv;
        }
      } else if (!value.is_null()) {
        (*target)[key] = value;
      }
    }
  }
}

}  // namespace

std::string formatRfc3339Millis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int rem = static_cast<int>(ms % 1000);
  if (rem < 0) {
    rem += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
}

bool isSecretKey(std::string_view name) {
  // string_view constants, not a braced list of C strings: this runs for
  // every key of every recorded body and chunk, and the list form paid a
  // strlen per entry per call.
  using namespace std::string_view_literals;
  static constexpr std::string_view kSecretKeys[] = {
      "api_key"sv,      "apikey"sv,       "api-key"sv,  "x-api-key"sv, "authorization"sv,   "aws_secret_access_key"sv,
      "aws_session_token"sv, "access_token"sv, "client_secret"sv, "password"sv, "secret"sv, "x-goog-api-key"sv};
  for (std::string_view secret : kSecretKeys)
    if (name.size() == secret.size() && iequals(name, secret)) return true;
  return false;
}

void scrubSecrets(json::value& v) {
  if (v.is_object()) {
    for (auto& kv : v.as_object()) {
      if (isSecretKey(std::string_view(kv.key().data(), kv.key().size())))
        kv.value() = kRedacted;
      else
        scrubSecrets(kv.value());
    }
  } else if (v.is_array()) {
    for (auto& item : v.as_array()) scrubSecrets(item);
  }
}

namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

// Bodies that are not JSON: application/x-www-form-urlencoded pairs
// (api_key=...&...) and multipart fields (name="api_key"\r\n\r\nVALUE).
std::string scrubFormSecrets(std::string in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    // A name=value pair at the start or after a separator.
    if (isNameChar(in[i]) && (i == 0 || !isNameChar(in[i - 1]))) {
      std::size_t end = i;
      while (end < in.size() && isNameChar(in[end])) ++end;
      std::string_view name(in.data() + i, end - i);
      out.append(name);
      i = end;
      if (i < in.size() && in[i] == '=' && isSecretKey(name)) {
        out += '=';
        out += kRedacted;
        ++i;
        while (i < in.size() && in[i] != '&' && in[i] != ';' && in[i] != ' ' && in[i] != '\r' && in[i] != '\n') ++i;
      }
      continue;
    }
    if (in[i] == '"' ) {
      std::size_t close = in.find('"', i + 1);
      if (close != std::string::npos && close - i - 1 < 128) {
        std::string_view name(in.data() + i + 1, close - i - 1);
        out.append(in, i, close - i + 1);
        i = close + 1;
        if (isSecretKey(name) && in.compare(i, 4, "\r\n\r\n") == 0) {
          out += "\r\n\r\n";
          out += kRedacted;
          i += 4;
          std::size_t line_end = in.find("\r\n", i);
          i = line_end == std::string::npos ? in.size() : line_end;
        }
        continue;
      }
    }
    out += in[i++];
  }
  return out;
}

}  // namespace

std::string scrubSecretsInText(std::string_view text) {
  return scrubFormSecrets(scrubJsonTextSecrets(text));
}

std::string scrubJsonTextSecrets(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '"') {
      out += text[i++];
      continue;
    }
    // A quoted token: find its end (honouring escapes).
    std::size_t end = i + 1;
    while (end < text.size() && text[end] != '"') end += (text[end] == '\\') ? 2 : 1;
    if (end >= text.size()) {
      out.append(text.substr(i));
      break;
    }
    std::string_view token = text.substr(i + 1, end - i - 1);
    out.append(text.substr(i, end - i + 1));
    i = end + 1;
    if (!isSecretKey(token)) continue;
    std::size_t j = i;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n')) ++j;
    if (j >= text.size() || text[j] != ':') continue;
    ++j;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n')) ++j;
    out.append(text.substr(i, j - i));
    i = j;
    if (i >= text.size()) break;
    if (text[i] == '"') {
      // Skip the secret string (possibly cut off by the preview).
      std::size_t close = i + 1;
      while (close < text.size() && text[close] != '"') close += (text[close] == '\\') ? 2 : 1;
      out += '"';
      out += kRedacted;
      out += '"';
      i = std::min(close + 1, text.size());
    } else {
      // A non-string secret value (number, object...): drop it up to the
      // next delimiter at this level.
      out += '"';
      out += kRedacted;
      out += '"';
      int depth = 0;
      while (i < text.size()) {
        char c = text[i];
        if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') {
          if (depth == 0) break;
          --depth;
        } else if (c == ',' && depth == 0) break;
        ++i;
      }
    }
  }
  return out;
}

std::string_view utf8Prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t n = max_bytes;
  // Step back over continuation bytes to the start of the cut sequence, then
  // keep that sequence only if it is complete.
  std::size_t start = n;
  while (start > 0 && (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80 && n - start < 4) --start;
  if (start > 0) {
    auto lead = static_cast<unsigned char>(text[start - 1]);
    std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
    if (lead >= 0x80 && (start - 1) + len > n) n = start - 1;
  }
  return text.substr(0, n);
}

json::value captureBody(std::string_view body, std::size_t max_bytes, bool cut,
                        std::optional<std::uint64_t> original_bytes, json::storage_ptr sp) {
  if (body.empty() && !cut) return json::value(nullptr, sp);
  const std::uint64_t original = original_bytes.value_or(body.size());
  if (!cut && body.size() <= max_bytes) {
    if (auto parsed = parseJson(body, sp)) {
      scrubSecrets(*parsed);
      return std::move(*parsed);
    }
    if (!isValidUtf8(body)) {
      // Binary (an upload's bytes): not representable as a JSON string.
      json::object b(sp);
      b["_binary"] = true;
      b["_original_bytes"] = original;
      return b;
    }
    return json::value(json::string_view(scrubSecretsInText(body)), sp);
  }
  // Too large: a preview of the (scrubbed) start of the body.
  std::string scrubbed;
  if (!cut) {
    if (auto parsed = parseJson(body)) {
      scrubSecrets(*parsed);
      scrubbed = json::serialize(*parsed);
    }
  }
  if (scrubbed.empty()) scrubbed = scrubSecretsInText(body.substr(0, std::min(body.size(), kMaxPreviewBytes + 256)));
  json::object t(sp);
  t["_truncated"] = true;
  t["_original_bytes"] = original;
  setString(t["_preview"], utf8Prefix(scrubbed, std::min(max_bytes, kMaxPreviewBytes)));
  return t;
}

namespace {
json::object assembleParsed(const std::vector<json::value>& chunks, const json::storage_ptr& sp);
}  // namespace

json::object assembleStream(const std::vector<std::string>& chunks) {
  std::vector<json::value> parsed;
  parsed.reserve(chunks.size());
  for (const auto& text : chunks)
    if (auto v = parseJson(text)) parsed.push_back(std::move(*v));
  return assembleParsed(parsed, {});
}

namespace {
json::object assembleParsed(const std::vector<json::value>& chunks, const json::storage_ptr& sp) {
  json::object out(sp);
  out["id"] = nullptr;
  out["object"] = "chat.completion.chunk";
  out["created"] = nullptr;
  out["model"] = nullptr;
  std::map<std::int64_t, json::object> choices;
  json::value usage(nullptr, sp);
  for (const auto& chunk_value : chunks) {
    if (!chunk_value.is_object()) continue;
    const auto& chunk = chunk_value.as_object();
    for (std::string_view key : {"id", "object", "created", "model", "system_fingerprint"})
      if (const auto* v = chunk.if_contains(key); v && !v->is_null()) out[key] = *v;
    if (const auto* u = chunk.if_contains("usage"); u && u->is_object()) usage = *u;
    const auto* cs = chunk.if_contains("choices");
    if (!cs || !cs->is_array()) continue;
    for (const auto& c : cs->as_array()) {
      if (!c.is_object()) continue;
      const auto& co = c.as_object();
      std::int64_t index = 0;
      if (const auto* i = co.if_contains("index"); i && i->is_int64()) index = i->as_int64();
      auto [it, fresh] = choices.try_emplace(index, sp);
      json::object& choice = it->second;
      if (fresh) {
        choice["index"] = index;
        json::object delta(sp);
        delta["role"] = nullptr;
        delta["content"] = nullptr;
        choice["delta"] = std::move(delta);
        choice["finish_reason"] = nullptr;
      }
      auto& delta = choice["delta"].as_object();
      if (const auto* d = co.if_contains("delta"); d && d->is_object()) {
        for (const auto& [key, value] : d->as_object()) {
          if (value.is_null()) continue;
          if (key == "content" && value.is_string()) {
            auto& slot = delta["content"];
            if (slot.is_string()) slot.as_string().append(value.as_string());
            else slot = value;
          } else if (key == "tool_calls" && value.is_array()) {
            auto& slot = delta["tool_calls"];
            if (!slot.is_array()) slot.emplace_array();
            mergeToolCalls(slot.as_array(), value.as_array());
          } else if (key == "role") {
            if (delta["role"].is_null()) delta["role"] = value;
          } else {
            delta[key] = value;
          }
        }
      }
      // Legacy completions streams carry "text" instead of a delta.
      if (const auto* t = co.if_contains("text"); t && t->is_string()) {
        auto& slot = choice["text"];
        if (slot.is_string()) slot.as_string().append(t->as_string());
        else slot = *t;
      }
      if (const auto* f = co.if_contains("finish_reason"); f && !f->is_null()) choice["finish_reason"] = *f;
    }
  }
  json::array arr(sp);
  for (auto& [index, choice] : choices) arr.push_back(std::move(choice));
  out["choices"] = std::move(arr);
  out["usage"] = std::move(usage);
  return out;
}
}  // namespace

RecordBuilder::RecordBuilder(RecordBuilderOptions options, std::shared_ptr<const PricingTable> pricing)
    : options_(std::move(options)), pricing_(std::move(pricing)) {}

BuiltRecord RecordBuilder::build(const RequestRecord& in, bool with_record) const {
  RecordSummary sum;
  const ResponseObservation& obs = in.observation;
  // Null storage (the default resource) when no record is made.
  json::storage_ptr sp;
  std::shared_ptr<RecordArena> arena;
  if (with_record) {
    arena = std::make_shared<RecordArena>();
    sp = json::storage_ptr(arena.get());
  }

  Usage usage = obs.usage;

  // Response: parsed once, used for the record, usage and error type.
  json::value response(nullptr, sp);
  std::optional<json::value> parsed_response;  // non-stream, full body only
  std::optional<std::string> stream_error_type;
  if (in.streamed) {
    // Each chunk is parsed once: for the assembly and for streamed_data.
    // The assembled response is built from every chunk the request path
    // kept (its own, larger, memory bound); TELEMETRY_MAX_BODY_BYTES caps
    // only the chunks listed in streamed_data.
    std::vector<json::value> parsed_chunks;
    parsed_chunks.reserve(obs.chunks.size());
    std::size_t bytes = 0, listed = 0, not_captured = obs.chunks_not_captured;
    bool budget_left = true;
    for (const auto& chunk : obs.chunks) {
      if (budget_left && bytes + chunk.size() <= options_.max_body_bytes) {
        bytes += chunk.size();
        ++listed;
      } else {
        budget_left = false;  // keep streamed_data a prefix, in order
        ++not_captured;
      }
      auto p = parseJson(chunk, sp);
      json::value v(sp);
      if (p) v = std::move(*p);
      else setString(v, chunk);
      if (!stream_error_type) stream_error_type = errorTypeOf(v);
      scrubSecrets(v);
      parsed_chunks.push_back(std::move(v));
    }
    json::object assembled = assembleParsed(parsed_chunks, sp);
    json::array streamed(sp);
    streamed.reserve(listed);
    for (std::size_t i = 0; i < listed; ++i) streamed.push_back(std::move(parsed_chunks[i]));
    // A stream's usage is in its last usage chunk, when the handler did not
    // report it itself.
    if (!usage.input && !usage.output && assembled["usage"].is_object())
      readOpenAiUsage(assembled["usage"].as_object(), usage);
    assembled["streamed_data"] = std::move(streamed);
    if (not_captured > 0) assembled["_chunks_not_captured"] = static_cast<std::uint64_t>(not_captured);
    if (options_.capture_bodies) response = std::move(assembled);
  } else if (!in.response_body.empty() || in.response_body_truncated) {
    if (!in.response_body_truncated) parsed_response = parseJson(in.response_body, sp);
    if (options_.capture_bodies && with_record) {
      if (parsed_response && in.response_body.size() <= options_.max_body_bytes) {
        response = *parsed_response;
        scrubSecrets(response);
      } else {
        response = captureBody(in.response_body, options_.max_body_bytes, in.response_body_truncated,
                               in.response_body_truncated ? std::optional<std::uint64_t>(in.response_size)
                                                          : std::nullopt,
                             sp);
      }
    }
  }

  // Tokens: what the provider's handler observed, else the response's usage.
  if (!usage.input && !usage.output && parsed_response && parsed_response->is_object())
    if (const auto* u = parsed_response->as_object().if_contains("usage"); u && u->is_object())
      readOpenAiUsage(u->as_object(), usage);
  if (!usage.total && usage.input && usage.output) usage.total = saturatingAdd(*usage.input, *usage.output);

  const std::string model = !in.model.empty() ? in.model : obs.response_model.value_or("");
  std::optional<double> cost;
  if (pricing_) {
    cost = pricing_->cost(in.provider, model, usage);
    if (!cost && obs.response_model && *obs.response_model != model)
      cost = pricing_->cost(in.provider, *obs.response_model, usage);
  }

  // Timings.
  sum.latency_s = seconds(in.received, in.finished);
  sum.ttfb_s = seconds(in.received, in.first_byte_sent);
  sum.provider_latency_s = seconds(in.upstream_sent, in.upstream_finished);

  // Errors.
  const bool is_error = in.status_code >= 400 || in.outcome != RequestOutcome::kSuccess;
  std::optional<std::string> error_type = in.error_type;
  if (!error_type && is_error) {
    if (in.outcome == RequestOutcome::kCancelled) error_type = "client_disconnected";
    else if (in.provider_status_code && *in.provider_status_code >= 400) error_type = "upstream_http_error";
    else error_type = "internal";
  }
  std::optional<std::string> provider_error_type = obs.provider_error_type;
  if (!provider_error_type && stream_error_type) provider_error_type = stream_error_type;
  if (!provider_error_type && in.provider_status_code && *in.provider_status_code >= 400) {
    if (parsed_response) provider_error_type = errorTypeOf(*parsed_response);
    if (!provider_error_type) provider_error_type = "http_" + std::to_string(*in.provider_status_code);
  }
  const bool provider_error = provider_error_type.has_value();

  sum.provider = in.provider.empty() ? "unknown" : in.provider;
  sum.model = model.empty() ? "unknown" : model;
  sum.status_code = in.status_code;
  sum.outcome = in.outcome;
  sum.input_tokens = usage.input;
  sum.output_tokens = usage.output;
  sum.cost = cost;
  sum.is_error = is_error;
  if (is_error)
    sum.error_type = error_type ? *error_type : provider_error_type.value_or("internal");
  if (!with_record) return {nullptr, std::move(sum)};

  json::object tokens(sp);
  tokens["input"] = optionalInt(usage.input);
  tokens["output"] = optionalInt(usage.output);
  tokens["total"] = optionalInt(usage.total);

  json::object meta(sp);
  setOptionalString(meta["project_id"], in.project_id);
  setOptionalString(meta["project_name"], in.project_name);
  meta["latency"] = millis(sum.latency_s);
  meta["ttfb"] = millis(sum.ttfb_s);
  meta["tokens"] = std::move(tokens);
  meta["cost"] = cost ? json::value(*cost) : json::value(nullptr);
  meta["status"] = statusName(in.outcome);
  setNonEmptyString(meta["path"], in.path);
  setNonEmptyString(meta["method"], in.method);
  meta["request_size"] = in.request_size;
  meta["response_size"] = in.response_size;
  meta["provider_latency"] = millis(sum.provider_latency_s);
  meta["status_code"] = in.status_code > 0 ? json::value(in.status_code) : json::value(nullptr);
  meta["provider_status_code"] = in.provider_status_code ? json::value(*in.provider_status_code) : json::value(nullptr);
  meta["error_count"] = is_error ? 1 : 0;
  setOptionalString(meta["error_type"], error_type);
  meta["provider_error_count"] = provider_error ? 1 : 0;
  setOptionalString(meta["provider_error_type"], provider_error_type);
  setOptionalString(meta["provider_request_id"], in.provider_request_id);

  json::object attrs(sp);
  setString(attrs["id"], in.id);
  setOptionalString(attrs["thread_id"], in.thread_id);
  setOptionalString(attrs["org_id"], in.org_id);
  setOptionalString(attrs["user_id"], in.user_id);
  setOptionalString(attrs["project_id"], in.project_id);
  setOptionalString(attrs["experiment_id"], in.experiment_id);
  setNonEmptyString(attrs["provider"], in.provider);
  setNonEmptyString(attrs["model"], model);
  attrs["request"] = options_.capture_bodies ? captureBody(in.request_body, options_.max_body_bytes, false,
                                                           std::nullopt, sp)
                                             : json::value(nullptr, sp);
  attrs["response"] = std::move(response);
  attrs["metadata"] = std::move(meta);

  json::object resource(sp);
  resource["service.name"] = std::string_view(options_.service_name);
  resource["service.version"] = std::string_view(options_.service_version);
  resource["deployment.environment"] = std::string_view(options_.deployment_environment);

  // The record's tree is in the arena too (a member default-constructed
  // with the default resource would copy every subtree moved into it).
  // (Braces, then a move: clang before 16 has no parenthesised aggregate
  // initialisation. Moving a json::object keeps its storage.)
  auto record = std::make_shared<TelemetryRecord>(
      TelemetryRecord{arena, isValidUtf8(in.id) ? in.id : toValidUtf8(in.id), json::object(sp), std::string()});
  record->json.reserve(4);
  record->json["timestamp"] = formatRfc3339Millis(in.wall_start);
  record->json["resource"] = std::move(resource);
  record->json["name"] = "ai_gateway_request_log";
  record->json["attributes"] = std::move(attrs);
  record->serialized = json::serialize(record->json);
  if (arena) arena->seal();  // from here on, other threads may copy from the tree

  return {std::move(record), std::move(sum)};
}

}  // namespace gw
