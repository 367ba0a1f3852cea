// The admin API's bodies and the stored form of a key (virtual_key.h).
#include "keys/virtual_key.h"

#include "keys/key_text.h"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace gw::keys {

namespace json = boost::json;
using namespace detail;

namespace {

// ---- RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).

// The decimal number in text[at, at + n), or -1 when any of it is not a digit.
int digitsAt(std::string_view text, std::size_t at, std::size_t n) {
  if (at + n > text.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

bool charAt(std::string_view text, std::size_t at, char c) { return at < text.size() && text[at] == c; }

// The offset east of UTC in seconds from what follows the seconds (and the
// fraction): "Z", "z", "+HH:MM" or "-HH:MM", nothing after it.
std::optional<std::int64_t> parseUtcOffset(std::string_view zone) {
  if (zone == "Z" || zone == "z") return 0;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return std::nullopt;
  const int hours = digitsAt(zone, 1, 2), minutes = digitsAt(zone, 4, 2);
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return std::nullopt;
  const std::int64_t offset = std::int64_t{hours} * 3600 + std::int64_t{minutes} * 60;
  return zone[0] == '-' ? -offset : offset;
}

std::optional<std::int64_t> parseRfc3339(std::string_view text) {
  const int year = digitsAt(text, 0, 4), month = digitsAt(text, 5, 2), day = digitsAt(text, 8, 2);
  const int hour = digitsAt(text, 11, 2), minute = digitsAt(text, 14, 2), second = digitsAt(text, 17, 2);
  if (!charAt(text, 4, '-') || !charAt(text, 7, '-') || !(charAt(text, 10, 'T') || charAt(text, 10, 't')) ||
      !charAt(text, 13, ':') || !charAt(text, 16, ':'))
    return std::nullopt;
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
      second < 0 || second > 60)
    return std::nullopt;
  if (static_cast<unsigned>(day) > daysInMonth(year, static_cast<unsigned>(month))) return std::nullopt;
  std::size_t at = 19;
  if (charAt(text, at, '.')) {
    const std::size_t digits_from = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == digits_from) return std::nullopt;
  }
  const auto offset = parseUtcOffset(text.substr(std::min(at, text.size())));
  if (!offset) return std::nullopt;
  const std::int64_t days = daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t seconds = std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + std::min(second, 59);
  return days * kSecondsPerDay + seconds - *offset;
}

// ---- Errors. Every message starts with the field's path and a space.

Error fieldError(std::string_view path, std::string_view problem) {
  std::string message(path);
  message += ' ';
  message += problem;
  return Error::badRequest("invalid_request", std::move(message));
}

Error notAnObject() { return Error::badRequest("invalid_request", "body must be a JSON object"); }

// A member name from the body as a message shows it: one word of printable
// ASCII, at most kMaxNameShown bytes of it.
std::string shownName(std::string_view name) {
  if (name.empty()) return "''";
  std::string out;
  for (char c : name.substr(0, kMaxNameShown)) out += (c > 0x20 && c < 0x7f) ? c : '?';
  if (name.size() > kMaxNameShown) out += "...";
  return out;
}

Error unknownField(std::string_view prefix, std::string_view name, std::string_view of_what) {
  return fieldError(std::string(prefix) + shownName(name), std::string("is not a field of ") + std::string(of_what));
}

std::string joinPath(std::string_view prefix, std::string_view name) { return std::string(prefix) + std::string(name); }

// ---- Readers of one JSON value each.

// A JSON integer (never a number with a fraction or an exponent) as int64.
std::optional<std::int64_t> integerOf(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v.get_uint64());
  return std::nullopt;
}

// A JSON integer in [min, max], or null (nullopt).
Result<std::optional<std::int64_t>> readInteger(const json::value& v, std::string_view path, std::int64_t min,
                                                std::int64_t max, std::string_view problem) {
  if (v.is_null()) return std::optional<std::int64_t>();
  const auto n = integerOf(v);
  if (!n || *n < min || *n > max) return fieldError(path, problem);
  return std::optional<std::int64_t>(*n);
}

Result<std::optional<std::string>> readText(const json::value& v, std::string_view path) {
  if (v.is_null()) return std::optional<std::string>();
  const json::string* s = v.if_string();
  if (!s || s->size() > kMaxTextBytes) return fieldError(path, "must be a string of at most 256 bytes, or null");
  return std::optional<std::string>(std::string(*s));
}

Result<std::optional<std::vector<std::string>>> readModels(const json::value& v) {
  using Models = std::optional<std::vector<std::string>>;
  if (v.is_null()) return Models();
  const json::array* a = v.if_array();
  if (!a || a->empty() || a->size() > kMaxModels)
    return fieldError("allowed_models", "must be an array of 1 to 1000 model names, or null");
  std::vector<std::string> models;
  models.reserve(a->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    const json::string* s = (*a)[i].if_string();
    if (!s || s->empty() || s->size() > kMaxTextBytes)
      return fieldError("allowed_models", "must hold non-empty strings of at most 256 bytes (item " +
                                              std::to_string(i) + ", counting from 0, is not)");
    models.emplace_back(*s);
  }
  return Models(std::move(models));
}

Result<double> readUsd(const json::value& v, std::string_view path) {
  double usd = -1;
  if (const auto n = integerOf(v))
    usd = static_cast<double>(*n);
  else if (v.is_double())
    usd = v.get_double();
  if (!(usd >= 0 && usd <= kMaxUsd)) return fieldError(path, "must be a number from 0 to 1000000000000");
  return usd + 0.0;  // -0.0 becomes 0
}

Result<Period> readPeriod(const json::value& v, std::string_view path) {
  const json::string* s = v.if_string();
  const auto period = s ? parsePeriod(*s) : std::nullopt;
  if (!period) return fieldError(path, "must be day, month or total");
  return *period;
}

bool isBudgetEcho(std::string_view name) {
  return name == "object" || name == "scope" || name == "id" || name == "usage";
}

// A budget object's members, each path starting with `prefix` ("budget." in
// a key, "" in a budget body). `ignore_echo`: the members a budget object
// shows but a client cannot set are skipped.
Result<Budget> readBudgetObject(const json::object& o, std::string_view prefix, bool ignore_echo) {
  Budget budget;
  bool has_usd = false;
  for (const auto& member : o) {
    const std::string_view name = member.key();
    if (name == "usd") {
      auto usd = readUsd(member.value(), joinPath(prefix, "usd"));
      if (!usd) return usd.error();
      budget.usd = *usd;
      has_usd = true;
    } else if (name == "period") {
      auto period = readPeriod(member.value(), joinPath(prefix, "period"));
      if (!period) return period.error();
      budget.period = *period;
    } else if (!(ignore_echo && isBudgetEcho(name))) {
      return unknownField(prefix, name, "a budget");
    }
  }
  if (!has_usd) return fieldError(joinPath(prefix, "usd"), "is required");
  return budget;
}

constexpr std::string_view kExpiresAtProblem =
    "must be unix seconds from 1 to 253402300799, an RFC 3339 date-time such as 2027-01-01T00:00:00Z, or null";

Result<std::optional<std::int64_t>> readExpiresAt(const json::value& v) {
  if (const json::string* s = v.if_string()) {
    const auto t = parseRfc3339(*s);
    if (!t || *t < 1 || *t > kMaxUnixSeconds) return fieldError("expires_at", kExpiresAtProblem);
    return std::optional<std::int64_t>(*t);
  }
  return readInteger(v, "expires_at", 1, kMaxUnixSeconds, kExpiresAtProblem);
}

// ---- Applying a body's fields to a key.

// What the body's expires_at is checked against.
struct ExpiryCheck {
  std::optional<std::int64_t> now_unix;     // refuse one not after this; nullopt: no check (stored form)
  std::optional<std::int64_t> kept_expiry;  // the key's own expiry, accepted unchanged
};

Status setLimits(VirtualKey& key, const json::value& v) {
  if (v.is_null()) {
    key.rpm.reset();
    key.tpm.reset();
    return ok();
  }
  const json::object* o = v.if_object();
  if (!o) return fieldError("limits", "must be an object with rpm and tpm, or null");
  for (const auto& member : *o) {
    const std::string_view name = member.key();
    if (name != "rpm" && name != "tpm") return unknownField("limits.", name, "limits");
    const std::string path = joinPath("limits.", name);
    auto n = readInteger(member.value(), path, 1, kMaxCount, "must be an integer from 1 to 1000000000000, or null");
    if (!n) return n.error();
    (name == "rpm" ? key.rpm : key.tpm) = *n;
  }
  return ok();
}

Status setBudget(VirtualKey& key, const json::value& v) {
  if (v.is_null()) {
    key.budget.reset();
    return ok();
  }
  const json::object* o = v.if_object();
  if (!o) return fieldError("budget", "must be an object with usd and period, or null");
  auto budget = readBudgetObject(*o, "budget.", false);
  if (!budget) return budget.error();
  key.budget = *budget;
  return ok();
}

Status setExpiresAt(VirtualKey& key, const json::value& v, const ExpiryCheck& check) {
  auto t = readExpiresAt(v);
  if (!t) return t.error();
  if (*t && check.now_unix && *t != check.kept_expiry && **t <= *check.now_unix)
    return fieldError("expires_at", "is in the past");
  key.expires_at = *t;
  return ok();
}

Status setText(std::optional<std::string>& field, const json::value& v, std::string_view path) {
  auto text = readText(v, path);
  if (!text) return text.error();
  field = std::move(*text);
  return ok();
}

Status setName(VirtualKey& key, const json::value& v) {
  auto text = readText(v, "name");
  if (!text) return text.error();
  key.name = text->value_or("");
  return ok();
}

Status setModels(VirtualKey& key, const json::value& v) {
  auto models = readModels(v);
  if (!models) return models.error();
  key.allowed_models = std::move(*models);
  return ok();
}

// One of the fields a client may set; anything else is unknown.
Status setField(VirtualKey& key, std::string_view name, const json::value& v, const ExpiryCheck& check) {
  if (name == "name") return setName(key, v);
  if (name == "project_id") return setText(key.project_id, v, name);
  if (name == "org_id") return setText(key.org_id, v, name);
  if (name == "user_id") return setText(key.user_id, v, name);
  if (name == "allowed_models") return setModels(key, v);
  if (name == "limits") return setLimits(key, v);
  if (name == "budget") return setBudget(key, v);
  if (name == "expires_at") return setExpiresAt(key, v, check);
  return unknownField("", name, "a key");
}

Error secretField(std::string_view name) { return fieldError(name, "cannot be set: the gateway generates keys"); }

bool isReadOnly(std::string_view name) {
  return name == "id" || name == "object" || name == "created_at" || name == "revoked" || name == "revoked_at" ||
         name == "usage";
}

Result<VirtualKey> applyClientBody(const json::value& body, VirtualKey key, const ExpiryCheck& check) {
  const json::object* o = body.if_object();
  if (!o) return notAnObject();
  for (const auto& member : *o) {
    const std::string_view name = member.key();
    if (name == "key" || name == "hash") return secretField(name);
    if (isReadOnly(name)) continue;
    if (auto status = setField(key, name, member.value(), check); !status) return status.error();
  }
  return key;
}

// ---- The stored form's own members.

constexpr std::string_view kTimestampProblem = "must be unix seconds from 0 to 253402300799";

struct StoredMembers {
  bool has_created_at = false;
  std::optional<bool> revoked;
};

Status setStoredId(VirtualKey& key, const json::value& v) {
  const json::string* s = v.if_string();
  if (!s || !hasPrefixAndHex(*s, "vk_", 24)) return fieldError("id", "must be vk_ followed by 24 lowercase hex digits");
  key.id = std::string(*s);
  return ok();
}

Status setStoredHash(VirtualKey& key, const json::value& v) {
  const json::string* s = v.if_string();
  if (!s || !hasPrefixAndHex(*s, "", 64)) return fieldError("hash", "must be 64 lowercase hex digits");
  key.hash = std::string(*s);
  return ok();
}

Status setStoredCreatedAt(VirtualKey& key, const json::value& v, StoredMembers& seen) {
  const auto t = integerOf(v);
  if (!t || *t < 0 || *t > kMaxUnixSeconds) return fieldError("created_at", kTimestampProblem);
  key.created_at = *t;
  seen.has_created_at = true;
  return ok();
}

Status setStoredRevokedAt(VirtualKey& key, const json::value& v) {
  auto t = readInteger(v, "revoked_at", 0, kMaxUnixSeconds, std::string(kTimestampProblem) + ", or null");
  if (!t) return t.error();
  key.revoked_at = *t;
  return ok();
}

Status setStoredMember(VirtualKey& key, std::string_view name, const json::value& v, StoredMembers& seen) {
  if (name == "id") return setStoredId(key, v);
  if (name == "hash") return setStoredHash(key, v);
  if (name == "created_at") return setStoredCreatedAt(key, v, seen);
  if (name == "revoked_at") return setStoredRevokedAt(key, v);
  if (name == "revoked") {
    if (!v.is_bool()) return fieldError("revoked", "must be true or false");
    seen.revoked = v.get_bool();
    return ok();
  }
  if (name == "object") {
    const json::string* s = v.if_string();
    return s && *s == "virtual_key" ? ok() : Status(fieldError("object", "must be virtual_key"));
  }
  if (name == "usage") return ok();
  if (name == "key") return secretField(name);
  return setField(key, name, v, ExpiryCheck{});
}

Status checkStoredComplete(const VirtualKey& key, const StoredMembers& seen) {
  if (key.id.empty()) return fieldError("id", "is required");
  if (key.hash.empty()) return fieldError("hash", "is required");
  if (!seen.has_created_at) return fieldError("created_at", "is required");
  if (seen.revoked && *seen.revoked != key.revoked())
    return fieldError("revoked", "must be true exactly when revoked_at is set");
  return ok();
}

// ---- JSON output.

json::value optionalText(const std::optional<std::string>& text) {
  return text ? json::value(*text) : json::value(nullptr);
}

json::value optionalInteger(const std::optional<std::int64_t>& n) { return n ? json::value(*n) : json::value(nullptr); }

// Whole dollars as a JSON integer (Boost.JSON writes the double 10 as 1E1).
json::value usdValue(double usd) {
  constexpr double kExact = 9007199254740992.0;  // 2^53: every integer up to it is a double
  if (usd == std::trunc(usd) && std::abs(usd) <= kExact) return json::value(static_cast<std::int64_t>(usd));
  return json::value(usd);
}

json::value modelsValue(const std::optional<std::vector<std::string>>& models) {
  if (!models) return nullptr;
  json::array a;
  a.reserve(models->size());
  for (const auto& m : *models) a.emplace_back(m);
  return a;
}

}  // namespace

// ---- The admin API's bodies.

Result<VirtualKey> parseKeyCreate(const json::value& body, std::int64_t now_unix) {
  return applyClientBody(body, VirtualKey{}, ExpiryCheck{now_unix, std::nullopt});
}

Result<VirtualKey> parseKeyPatch(const json::value& body, const VirtualKey& current, std::int64_t now_unix) {
  return applyClientBody(body, current, ExpiryCheck{now_unix, current.expires_at});
}

Result<Budget> parseBudget(const json::value& body) {
  const json::object* o = body.if_object();
  if (!o) return notAnObject();
  return readBudgetObject(*o, "", true);
}

// ---- JSON forms.

json::object toAdminJson(const Budget& budget) {
  json::object o;
  o.emplace("usd", usdValue(budget.usd));
  o.emplace("period", toString(budget.period));
  return o;
}

json::object toAdminJson(const VirtualKey& key) {
  json::object o;
  o.reserve(13);
  o.emplace("id", key.id);
  o.emplace("object", "virtual_key");
  o.emplace("name", key.name.empty() ? json::value(nullptr) : json::value(key.name));
  o.emplace("project_id", optionalText(key.project_id));
  o.emplace("org_id", optionalText(key.org_id));
  o.emplace("user_id", optionalText(key.user_id));
  o.emplace("allowed_models", modelsValue(key.allowed_models));
  o.emplace("limits", json::object{{"rpm", optionalInteger(key.rpm)}, {"tpm", optionalInteger(key.tpm)}});
  o.emplace("budget", key.budget ? json::value(toAdminJson(*key.budget)) : json::value(nullptr));
  o.emplace("expires_at", optionalInteger(key.expires_at));
  o.emplace("created_at", key.created_at);
  o.emplace("revoked", key.revoked());
  o.emplace("revoked_at", optionalInteger(key.revoked_at));
  return o;
}

json::object toStoredJson(const VirtualKey& key) {
  json::object o = toAdminJson(key);
  o.emplace("hash", key.hash);
  return o;
}

Result<VirtualKey> fromStoredJson(const json::value& stored) {
  const json::object* o = stored.if_object();
  if (!o) return notAnObject();
  VirtualKey key;
  StoredMembers seen;
  for (const auto& member : *o)
    if (auto status = setStoredMember(key, member.key(), member.value(), seen); !status) return status.error();
  if (auto status = checkStoredComplete(key, seen); !status) return status.error();
  return key;
}

}  // namespace gw::keys
