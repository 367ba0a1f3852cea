#include "keys/admin_api.h"

#include "common/log.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <charconv>

namespace gw::keys {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxAdminBody = 1u << 20;
constexpr std::size_t kMaxPathId = 256;

// The OpenAI error shape; "param" is the field a 400 names (the first word
// of parse errors' messages).
AdminResponse errorResponse(const Error& e, std::string_view param = {}) {
  json::object err{{"message", e.message},
                   {"type", e.type},
                   {"param", param.empty() ? json::value(nullptr) : json::value(param)},
                   {"code", e.code}};
  AdminResponse r;
  r.status = e.http_status;
  r.body = json::serialize(json::object{{"error", std::move(err)}});
  r.retry_after_seconds = e.retry_after_seconds;
  return r;
}

// A field error from the key model: its message starts with the field.
AdminResponse fieldError(const Error& e) {
  std::string_view m = e.message;
  std::string_view first = m.substr(0, m.find(' '));
  return errorResponse(e, first == "body" ? std::string_view() : first);
}

AdminResponse jsonResponse(int status, const json::object& body) {
  AdminResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

AdminResponse notFound(std::string code, std::string message) {
  return errorResponse(Error{404, "invalid_request_error", std::move(code), std::move(message)});
}

AdminResponse methodNotAllowed() {
  return errorResponse(Error{405, "invalid_request_error", "method_not_allowed", "Method not allowed on this path"});
}

std::optional<std::string> percentDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
    if (ec != std::errc() || p != in.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

json::object usageJson(Period period, const UsageCounts& u) {
  return json::object{{"period", toString(period)},
                      {"requests", u.requests},
                      {"input_tokens", u.input_tokens},
                      {"output_tokens", u.output_tokens},
                      {"spend_usd", picosToUsd(u.spend_picos)}};
}

// The store's calls, on Redis (the worker's connection) or LocalState.
struct Store {
  KeyWorker::Impl& w;
  KeyService::Impl& svc() { return *w.service; }

  net::awaitable<Result<std::optional<std::string>>> get(std::string_view hash, std::string_view field) {
    if (!w.redis) co_return svc().local.hashGet(hash, field);
    auto r = co_await w.redis->command("HGET", hash, field);
    if (!r) co_return r.error();
    if (r->isNil()) co_return std::optional<std::string>();
    co_return std::optional<std::string>(std::move(r->str));
  }

  net::awaitable<Result<std::vector<std::pair<std::string, std::string>>>> all(std::string_view hash) {
    if (!w.redis) co_return svc().local.hashGetAll(hash);
    auto r = co_await w.redis->command("HGETALL", hash);
    if (!r) co_return r.error();
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2)
      out.emplace_back(std::move(r->elements[i].str), std::move(r->elements[i + 1].str));
    co_return out;
  }

  // Writes a field (nullopt deletes it) and publishes the new table, so
  // this instance uses the change at once.
  net::awaitable<Status> set(std::string_view hash, std::string_view field, std::optional<std::string> value) {
    if (!w.redis) {
      if (auto st = svc().local.hashSet(hash, field, std::move(value)); !st)
        co_return Error{500, "server_error", "state_write_failed", st.error().message};
      svc().publishLocal();
      co_return ok();
    }
    static const state::RedisScript put(R"lua(
if ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) else redis.call('HDEL', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[2])
)lua");
    const std::array<std::string_view, 2> keys{hash, kVersionName};
    std::vector<std::string_view> args{field};
    if (value) args.push_back(*value);
    auto r = co_await w.redis->evalsha(put, keys, args);
    if (!r) co_return r.error();
    co_return co_await svc().reloadTable(*w.redis);
  }

  net::awaitable<Result<UsageCounts>> usage(const std::string& name) {
    if (!w.redis) co_return svc().local.usage(name);
    auto r = co_await w.redis->command("HGETALL", name);
    if (!r) co_return r.error();
    UsageCounts u;
    for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
      const std::string& field = r->elements[i].str;
      std::int64_t v = 0;
      const std::string& text = r->elements[i + 1].str;
      std::from_chars(text.data(), text.data() + text.size(), v);
      if (field == "requests") u.requests = v;
      else if (field == "input_tokens") u.input_tokens = v;
      else if (field == "output_tokens") u.output_tokens = v;
      else if (field == "spend_pusd") u.spend_picos = v;
    }
    co_return u;
  }
};

Result<json::value> parseBody(std::string_view body) {
  if (body.size() > kMaxAdminBody) return Error{413, "invalid_request_error", "request_too_large", "body too large for the admin API (1 MiB at most)"};
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return Error::badRequest("invalid_json", "body is not valid JSON");
  return v;
}

Result<VirtualKey> storedKey(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Error::internal("a stored key is not JSON");
  auto key = fromStoredJson(v);
  if (!key) return Error::internal("a stored key is corrupt: " + key.error().message);
  return key;
}

net::awaitable<AdminResponse> createKey(Store& store, std::string_view body) {
  auto parsed = parseBody(body);
  if (!parsed) co_return errorResponse(parsed.error());
  const std::int64_t now = unixNow();
  auto key = parseKeyCreate(*parsed, now);
  if (!key) co_return fieldError(key.error());
  const std::string secret = generateKey();
  key->id = generateKeyId();
  key->hash = hashKey(secret);
  key->created_at = now;
  if (auto st = co_await store.set(kKeysHash, key->id, json::serialize(toStoredJson(*key))); !st)
    co_return errorResponse(st.error());
  json::object out = toAdminJson(*key);
  out["key"] = secret;
  co_return jsonResponse(201, out);
}

net::awaitable<AdminResponse> listKeys(Store& store) {
  auto entries = co_await store.all(kKeysHash);
  if (!entries) co_return errorResponse(entries.error());
  std::vector<VirtualKey> keys;
  for (const auto& [id, text] : *entries)
    if (auto key = storedKey(text)) keys.push_back(std::move(*key));
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  json::array data;
  for (const auto& k : keys) data.push_back(toAdminJson(k));
  co_return jsonResponse(200, json::object{{"object", "list"}, {"data", std::move(data)}});
}

net::awaitable<AdminResponse> keyById(Store& store, std::string_view method, const std::string& id,
                                      std::string_view body) {
  auto text = co_await store.get(kKeysHash, id);
  if (!text) co_return errorResponse(text.error());
  if (!*text) co_return notFound("key_not_found", "No virtual key has this id");
  auto key = storedKey(**text);
  if (!key) co_return errorResponse(key.error());
  const std::int64_t now = unixNow();

  if (method == "GET") {
    const Period period = key->budget ? key->budget->period : Period::kTotal;
    auto usage = co_await store.usage(usageName(Scope::kKey, key->id, period, now));
    if (!usage) co_return errorResponse(usage.error());
    json::object out = toAdminJson(*key);
    out["usage"] = usageJson(period, *usage);
    co_return jsonResponse(200, out);
  }
  if (method == "PATCH") {
    auto parsed = parseBody(body);
    if (!parsed) co_return errorResponse(parsed.error());
    auto patched = parseKeyPatch(*parsed, *key, now);
    if (!patched) co_return fieldError(patched.error());
    if (auto st = co_await store.set(kKeysHash, id, json::serialize(toStoredJson(*patched))); !st)
      co_return errorResponse(st.error());
    co_return jsonResponse(200, toAdminJson(*patched));
  }
  if (method == "DELETE") {
    if (!key->revoked()) {
      key->revoked_at = now;
      if (auto st = co_await store.set(kKeysHash, id, json::serialize(toStoredJson(*key))); !st)
        co_return errorResponse(st.error());
    }
    co_return jsonResponse(200, json::object{{"id", key->id}, {"object", "virtual_key"}, {"deleted", true}});
  }
  co_return methodNotAllowed();
}

net::awaitable<AdminResponse> budgetOf(Store& store, std::string_view method, Scope scope, const std::string& id,
                                       std::string_view body) {
  const std::string field = budgetField(scope, id);
  auto budgetJson = [&](const Budget& b, const UsageCounts& u) {
    json::object out{{"object", "budget"}, {"scope", toString(scope)}, {"id", id}};
    for (auto& [k, v] : toAdminJson(b)) out[k] = v;
    out["usage"] = usageJson(b.period, u);
    return out;
  };
  const std::int64_t now = unixNow();
  if (method == "PUT") {
    auto parsed = parseBody(body);
    if (!parsed) co_return errorResponse(parsed.error());
    auto budget = parseBudget(*parsed);
    if (!budget) co_return fieldError(budget.error());
    if (auto st = co_await store.set(kBudgetsHash, field, json::serialize(toAdminJson(*budget))); !st)
      co_return errorResponse(st.error());
    auto usage = co_await store.usage(usageName(scope, id, budget->period, now));
    co_return jsonResponse(200, budgetJson(*budget, usage ? *usage : UsageCounts{}));
  }
  if (method != "GET" && method != "DELETE") co_return methodNotAllowed();
  auto text = co_await store.get(kBudgetsHash, field);
  if (!text) co_return errorResponse(text.error());
  if (!*text) co_return notFound("budget_not_found", std::string("No budget is set for this ") + std::string(toString(scope)));
  if (method == "DELETE") {
    if (auto st = co_await store.set(kBudgetsHash, field, std::nullopt); !st) co_return errorResponse(st.error());
    co_return jsonResponse(200, json::object{{"object", "budget"}, {"scope", toString(scope)}, {"id", id}, {"deleted", true}});
  }
  json::error_code ec;
  auto budget = parseBudget(json::parse(**text, ec));
  if (ec || !budget) co_return errorResponse(Error::internal("a stored budget is corrupt"));
  auto usage = co_await store.usage(usageName(scope, id, budget->period, now));
  if (!usage) co_return errorResponse(usage.error());
  co_return jsonResponse(200, budgetJson(*budget, *usage));
}

}  // namespace

net::awaitable<AdminResponse> serveDashboardKeys(KeyWorker::Impl& worker) {
  constexpr std::size_t kMaxKeys = 500;
  Store store{worker};
  const std::int64_t now = unixNow();
  auto entries = co_await store.all(kKeysHash);
  if (!entries) co_return errorResponse(entries.error());
  std::vector<VirtualKey> keys;
  for (const auto& [id, text] : *entries)
    if (auto key = storedKey(text)) keys.push_back(std::move(*key));
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  const bool truncated = keys.size() > kMaxKeys;
  if (truncated) keys.resize(kMaxKeys);
  json::array key_list;
  for (const auto& k : keys) {
    const Period period = k.budget ? k.budget->period : Period::kTotal;
    auto usage = co_await store.usage(usageName(Scope::kKey, k.id, period, now));
    if (!usage) co_return errorResponse(usage.error());
    json::object o = toAdminJson(k);
    o["usage"] = usageJson(period, *usage);
    key_list.push_back(std::move(o));
  }
  auto budget_entries = co_await store.all(kBudgetsHash);
  if (!budget_entries) co_return errorResponse(budget_entries.error());
  json::array budget_list;
  for (const auto& [field, text] : *budget_entries) {
    const std::size_t colon = field.find(':');
    if (colon == std::string::npos || budget_list.size() >= kMaxKeys) continue;
    const std::string_view scope_name = std::string_view(field).substr(0, colon);
    const Scope scope = scope_name == "project" ? Scope::kProject : Scope::kUser;
    if (scope_name != "project" && scope_name != "user") continue;
    json::error_code ec;
    auto budget = parseBudget(json::parse(text, ec));
    if (ec || !budget) continue;
    const std::string id = field.substr(colon + 1);
    auto usage = co_await store.usage(usageName(scope, id, budget->period, now));
    if (!usage) co_return errorResponse(usage.error());
    json::object o{{"scope", toString(scope)}, {"id", id}};
    for (auto& [k, v] : toAdminJson(*budget)) o[k] = v;
    o["usage"] = usageJson(budget->period, *usage);
    budget_list.push_back(std::move(o));
  }
  co_return jsonResponse(200, json::object{{"enabled", true},
                                           {"keys", std::move(key_list)},
                                           {"budgets", std::move(budget_list)},
                                           {"truncated", truncated}});
}

net::awaitable<AdminResponse> serveAdmin(KeyWorker::Impl& worker, std::string_view method, std::string_view path,
                                         std::string_view authorization, std::string_view body) {
  const std::string& admin_key = worker.service->options.admin_key;
  std::string_view presented;
  if (authorization.size() > 7 && (authorization.substr(0, 7) == "Bearer " || authorization.substr(0, 7) == "bearer "))
    presented = authorization.substr(7);
  if (presented.empty() || !adminKeyMatches(presented, admin_key))
    co_return errorResponse(Error::unauthorized("invalid_admin_key", "Missing or invalid admin key (Authorization: Bearer GATEWAY_ADMIN_KEY)"));

  Store store{worker};
  if (path.ends_with('/') && path.size() > 1) path.remove_suffix(1);
  constexpr std::string_view kKeys = "/admin/keys", kBudgets = "/admin/budgets/";
  if (path == kKeys) {
    if (method == "POST") co_return co_await createKey(store, body);
    if (method == "GET") co_return co_await listKeys(store);
    co_return methodNotAllowed();
  }
  auto idOf = [](std::string_view raw) -> std::optional<std::string> {
    if (raw.empty() || raw.find('/') != std::string_view::npos) return std::nullopt;
    auto id = percentDecode(raw);
    if (!id || id->empty() || id->size() > kMaxPathId) return std::nullopt;
    return id;
  };
  if (path.starts_with(kKeys) && path[kKeys.size()] == '/') {
    if (auto id = idOf(path.substr(kKeys.size() + 1))) co_return co_await keyById(store, method, *id, body);
  } else if (path.starts_with(kBudgets)) {
    std::string_view rest = path.substr(kBudgets.size());
    std::optional<Scope> scope;
    if (rest.starts_with("project/")) scope = Scope::kProject;
    else if (rest.starts_with("user/")) scope = Scope::kUser;
    if (scope) {
      if (auto id = idOf(rest.substr(rest.find('/') + 1))) co_return co_await budgetOf(store, method, *scope, *id, body);
    }
  }
  co_return notFound("not_found", "Unknown admin path: the admin API serves /admin/keys[/{id}] and /admin/budgets/{project|user}/{id}");
}

}  // namespace gw::keys
