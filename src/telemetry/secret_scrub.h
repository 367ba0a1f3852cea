// Secrets in recorded bodies: the one rule that says which member names
// hold secrets (docs/records.md), applied to parsed trees and to text that
// cannot be parsed (cut previews, broken JSON, form and multipart posts).
// Pure functions; called by the record builder and the stream assembler on
// the telemetry thread.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace gw {

// True for member names whose values are secrets (docs/records.md): the
// name, ASCII lower-cased with '-' read as '_', is or ends with api_key,
// apikey, secret, secret_key, password, access_token, refresh_token,
// session_token, auth_token, private_key or authorization, or is
// aws_secret_access_key. "Ends with" is on the whole name: openai_api_key
// and My-Secret are secret, api_keys, secretary and max_tokens are not.
// `name` is the name itself, escapes already decoded. The one rule of every
// path that redacts (scrubForRecord, scrubSecretsInText, StreamAssembler).
bool isSecretKey(std::string_view name);

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
