// Secrets in recorded bodies: the one rule that says which member names
// hold secrets (docs/records.md), applied to parsed trees and to text that
// cannot be parsed (cut previews, broken JSON, form and multipart posts).
// Pure functions; called by the record builder and the stream assembler on
// the telemetry thread.
#pragma once

#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gw {

namespace secret_key_detail {

using namespace std::string_view_literals;
// A name that is or ends with one of these (docs/records.md). The rule
// spells apikey both ways; the other two-word names get their camelCase
// spelling too (accessToken reads as accesstoken), which JavaScript
// clients use and nothing but a credential ends with.
inline constexpr std::string_view kSecretSuffixes[] = {
    "api_key"sv,       "apikey"sv,        "secret"sv,       "secret_key"sv,  "password"sv,      "access_token"sv,
    "refresh_token"sv, "session_token"sv, "auth_token"sv,   "private_key"sv, "authorization"sv, "secretkey"sv,
    "accesstoken"sv,   "refreshtoken"sv,  "sessiontoken"sv, "authtoken"sv,   "privatekey"sv};
// Whole names that are secrets too: AWS's name for its secret key ends
// with access_key, which is no suffix of the rule because some APIs call
// a key's public id that.
inline constexpr std::string_view kSecretNames[] = {"aws_secret_access_key"sv};

inline constexpr std::size_t kShortestSecretName = [] {
  std::size_t n = SIZE_MAX;
  for (std::string_view s : kSecretSuffixes) n = std::min(n, s.size());
  for (std::string_view s : kSecretNames) n = std::min(n, s.size());
  return n;
}();

// Every name of the rule ends with two letters: for each last letter, the
// letters before it that some name has.
static_assert([] {
  auto letter = [](char c) { return c >= 'a' && c <= 'z'; };
  for (std::string_view s : kSecretSuffixes)
    if (s.size() < 2 || !letter(s.end()[-1]) || !letter(s.end()[-2])) return false;
  for (std::string_view s : kSecretNames)
    if (s.size() < 2 || !letter(s.end()[-1]) || !letter(s.end()[-2])) return false;
  return true;
}());
inline constexpr std::array<std::uint32_t, 26> kBeforeLast = [] {
  std::array<std::uint32_t, 26> before{};
  for (std::string_view s : kSecretSuffixes) before[s.end()[-1] - 'a'] |= 1u << (s.end()[-2] - 'a');
  for (std::string_view s : kSecretNames) before[s.end()[-1] - 'a'] |= 1u << (s.end()[-2] - 'a');
  return before;
}();

// The whole rule, for the names the test below lets through.
bool endsWithSecretName(std::string_view name);

}  // namespace secret_key_detail

// True for member names whose values are secrets (docs/records.md): the
// name, ASCII lower-cased with '-' read as '_', is or ends with api_key,
// apikey, secret, secret_key, password, access_token, refresh_token,
// session_token, auth_token, private_key or authorization, or is
// aws_secret_access_key. "Ends with" is on the whole name: openai_api_key
// and My-Secret are secret, api_keys, secretary and max_tokens are not.
// `name` is the name itself, escapes already decoded. The one rule of every
// path that redacts (scrubForRecord, scrubSecretsInText, StreamAssembler).
//
// This runs for every member of every recorded body and chunk: most names
// are ruled out inline by their length or last two characters (an ASCII
// letter's case is its 0x20 bit; any other byte is no letter either way).
inline bool isSecretKey(std::string_view name) {
  using namespace secret_key_detail;
  if (name.size() < kShortestSecretName) return false;
  const unsigned last = static_cast<unsigned>(static_cast<unsigned char>(name.end()[-1]) | 0x20) - 'a';
  const unsigned before_last = static_cast<unsigned>(static_cast<unsigned char>(name.end()[-2]) | 0x20) - 'a';
  if (last >= 26 || before_last >= 26 || !((kBeforeLast[last] >> before_last) & 1u)) return false;
  return endsWithSecretName(name);
}

// Makes an untrusted tree fit for a record: replaces the value of every
// secret member, at any depth, by "[REDACTED]", and every number too large
// for a double (1e999, read as infinity, which JSON cannot express) by the
// string "Infinity" or "-Infinity".
void scrubForRecord(boost::json::value& v);

// Redacts the string value after every quoted secret key in (possibly cut
// or malformed) JSON-ish text, for body previews that cannot be parsed, and
// the values of secret form and multipart fields. Names are decoded (JSON
// escapes, form percent-encoding) before isSecretKey reads them.
std::string scrubSecretsInText(std::string_view text);
// The JSON-text part of scrubSecretsInText ("name": value members only).
std::string scrubJsonTextSecrets(std::string_view text);

}  // namespace gw
