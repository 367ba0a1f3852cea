// A virtual key: what the admin API creates and the request path checks
// (docs/keys-and-budgets.md), its JSON forms, and the UTC periods its
// budget and usage are counted in.
//
// Pure values and functions: no I/O, no shared state; callable from any
// thread.
#pragma once

#include "gw/error.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::keys {

// The window a budget and the usage shown with it are counted in, in UTC:
// the calendar day, the calendar month, or since the key (or budget) exists.
enum class Period : std::uint8_t { kDay, kMonth, kTotal };
std::string_view toString(Period period);                  // "day", "month", "total"
std::optional<Period> parsePeriod(std::string_view text);  // the same names, nothing else

// Spend is counted in whole picodollars (1e-12 USD) so that sums are exact
// in any order on every instance: a record's cost adds
// usdToPicos(cost). Negative, NaN and infinite amounts are 0; amounts past
// the int64 range saturate.
std::int64_t usdToPicos(double usd);
double picosToUsd(std::int64_t picos);

// The period a moment (unix seconds, UTC) falls in, as the suffix of the
// state store's counter names: "d20261206", "m202612", "t".
std::string periodId(Period period, std::int64_t unix_seconds);
// Seconds from `unix_seconds` to the end of its period (the next UTC
// midnight, the first of the next month); nullopt for kTotal.
std::optional<std::int64_t> secondsToPeriodEnd(Period period, std::int64_t unix_seconds);

struct Budget {
  double usd = 0;                  // >= 0; spend reaching it stops requests
  Period period = Period::kTotal;  // "period" omitted: total

  bool operator==(const Budget&) const = default;
};

struct VirtualKey {
  std::string id;    // "vk_" + 24 lowercase hex digits
  std::string hash;  // SHA-256 of the key, 64 lowercase hex digits; the key itself is never stored
  std::string name;  // "" when not given (shown as null)
  std::optional<std::string> project_id, org_id, user_id;
  std::optional<std::vector<std::string>> allowed_models;  // nullopt: every model
  std::optional<std::int64_t> rpm, tpm;                    // requests / tokens per minute; nullopt: no limit
  std::optional<Budget> budget;
  std::optional<std::int64_t> expires_at;  // unix seconds
  std::int64_t created_at = 0;             // unix seconds
  std::optional<std::int64_t> revoked_at;  // unix seconds; set by DELETE

  bool revoked() const { return revoked_at.has_value(); }
  bool expired(std::int64_t now_unix) const { return expires_at && now_unix >= *expires_at; }
  // Whether `model` may be used: allowed_models unset, or one of its entries
  // matches the model, exactly or as a glob in which each `*` stands for any
  // run of characters, none included ("gpt-4o*", "*mini", "a*b*c").
  // Case-sensitive; no other character is special. An empty list allows
  // nothing (the admin API never makes one).
  bool allows(std::string_view model) const;

  bool operator==(const VirtualKey&) const = default;
};

// A new key: "gw-" followed by 64 lowercase hex digits from 32 bytes of
// OpenSSL's RAND_bytes. Throws std::runtime_error only when the RNG fails.
std::string generateKey();
// A new id: "vk_" followed by 24 lowercase hex digits (12 random bytes).
std::string generateKeyId();
// SHA-256 of `key` as 64 lowercase hex digits (OpenSSL EVP); "" only when
// OpenSSL cannot compute it, which matches no stored key.
std::string hashKey(std::string_view key);
// Whether `text` has the shape of a virtual key ("gw-" + 64 lowercase hex):
// the request path looks up only such tokens.
bool looksLikeVirtualKey(std::string_view text);
// Whether `presented` is `expected` (GATEWAY_ADMIN_KEY), comparing SHA-256
// digests so that the time taken depends on neither the presented key's
// contents nor its length. The admin API and the dashboard's API call it.
bool adminKeyMatches(std::string_view presented, std::string_view expected);

// The admin API's bodies. Both take the parsed JSON value of the request
// body. Errors are 400 Error::badRequest with code "invalid_request" whose
// message starts with the path of the field it is about, then a space:
// "limits.rpm must be an integer from 1 to 1000000000000, or null",
// "rmp is not a field of a key", "budget.period must be day, month or
// total". The admin API puts that first word in the OpenAI error's "param".
// A body that is not an object gives "body must be a JSON object", whose
// first word, "body", names no field (the admin API leaves param empty).
// Messages never hold a value from the body; an unknown field's name is
// shown as at most 64 bytes of printable ASCII (other bytes and spaces as
// '?', "..." when cut, '' when empty).
//
// Fields (docs/keys-and-budgets.md): name, project_id, org_id, user_id
// (strings, at most 256 bytes, or null), allowed_models (null or an array of
// 1..1000 non-empty strings of at most 256 bytes), limits (null or an object
// with rpm and tpm: null or integers 1..1e12; JSON numbers with a fraction
// or an exponent are refused), budget (null or {"usd": number 0..1e12,
// finite, "period": "day"|"month"|"total", default total}), expires_at
// (null, integer unix seconds 1..253402300799, or an RFC 3339 date-time
// string such as "2027-01-01T00:00:00Z" or "2027-01-01T01:00:00+01:00").
// RFC 3339: 'T' or 't' between date and time, an optional fraction of a
// second (dropped), then 'Z', 'z' or an offset +HH:MM / -HH:MM; a leap
// second (:60) is read as :59 of the same minute, since unix time has none.
//
// The fields a key object shows but a client cannot set -- id, object,
// created_at, revoked, revoked_at, usage -- are ignored, so an object read
// back can be sent again; "key" and "hash" are refused; any other field is
// refused.
//
// parseKeyCreate: every field optional; the result has id, hash and
// created_at empty/0 (the caller sets them). `now_unix` refuses an
// expires_at not in the future ("expires_at is in the past").
Result<VirtualKey> parseKeyCreate(const boost::json::value& body, std::int64_t now_unix);
// parseKeyPatch: applies the fields present in `body` to a copy of
// `current` (null clears a field, a null name becomes ""; a "limits" object
// replaces only the members it has; "budget" replaces the budget whole).
// Same checks, except that an expires_at equal to the key's current one is
// kept even when it has passed, so that a key read back can be sent again.
Result<VirtualKey> parseKeyPatch(const boost::json::value& body, const VirtualKey& current, std::int64_t now_unix);
// A budget body of PUT /admin/budgets/{project|user}/{id}: {"usd", "period"};
// usd required. Same error style; unknown fields refused, except "object",
// "scope", "id" and "usage" (ignored).
Result<Budget> parseBudget(const boost::json::value& body);

// The key object the admin API shows: {"id", "object": "virtual_key",
// "name", "project_id", "org_id", "user_id", "allowed_models", "limits":
// {"rpm", "tpm"}, "budget": {"usd", "period"} or null, "expires_at",
// "created_at", "revoked", "revoked_at"}; unset values are null. Never the
// key or its hash.
boost::json::object toAdminJson(const VirtualKey& key);
boost::json::object toAdminJson(const Budget& budget);  // {"usd", "period"}

// The stored form (the local state file and Redis): toAdminJson plus
// "hash". A budget's whole-dollar usd is written as a JSON integer.
// fromStoredJson checks it as strictly as the admin API's bodies (a corrupt
// or hand-edited store is refused with a message, not trusted): id, hash and
// created_at (unix seconds 0..253402300799) are required; revoked_at (the
// same range, or null) and revoked (a bool that must agree with revoked_at)
// are read; "object", when present, must be "virtual_key"; "usage" is
// ignored; "key" is refused; expires_at may be in the past.
boost::json::object toStoredJson(const VirtualKey& key);
Result<VirtualKey> fromStoredJson(const boost::json::value& stored);

}  // namespace gw::keys
