// AWS Signature Version 4 (header-based, AWS4-HMAC-SHA256), with OpenSSL.
//
// The caller passes the canonical URI (already URI-encoded as AWS wants it:
// once for S3, twice, i.e. encodeUri(path_as_sent), for every other service
// including Bedrock) and the headers to sign; the signer adds nothing to the
// request itself and returns the Authorization value. Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::providers::bedrock::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" for long-term keys
};

struct Request {
  std::string_view method;
  std::string canonical_uri;  // e.g. "/model/anthropic.claude-v2%253A1/converse"
  // Decoded query parameters; encoded and sorted by the signer.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, any case; values are trimmed and inner runs of spaces
  // collapsed by the signer. Must include "host" and "x-amz-date" (and
  // "x-amz-security-token" when the credentials have a session token).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view payload;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;   // "host;x-amz-date"
  std::string signature;        // lowercase hex
  std::string authorization;    // the Authorization header value
};

// `amz_date` is the request time as YYYYMMDD'T'HHMMSS'Z' (the x-amz-date value).
Signature sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::string_view amz_date);

// RFC 3986 percent-encoding as SigV4 defines it: unreserved characters
// (A-Z a-z 0-9 - _ . ~) stay, every other byte becomes %XX (upper case);
// '/' stays when encode_slash is false.
std::string uriEncode(std::string_view s, bool encode_slash);

std::string sha256Hex(std::string_view data);

// "YYYYMMDDTHHMMSSZ" for the current UTC time.
std::string amzDateNow();

}  // namespace gw::providers::bedrock::sigv4
