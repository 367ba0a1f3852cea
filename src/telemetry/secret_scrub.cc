#include "telemetry/secret_scrub.h"

#include "common/strings.h"

#include <array>
#include <cmath>
#include <cstdint>

namespace gw {

namespace json = boost::json;

namespace {
constexpr std::string_view kRedacted = "[REDACTED]";
}  // namespace

namespace {

// A name's character as the rule reads it: ASCII case folded, '-' as '_'.
char secretRuleChar(char c) { return c == '-' ? '_' : asciiLower(c); }

// `name` ends with `suffix` (written in the rule's characters).
bool endsWithRuleName(std::string_view name, std::string_view suffix) {
  if (name.size() < suffix.size()) return false;
  const char* tail = name.data() + (name.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i)
    if (secretRuleChar(tail[i]) != suffix[i]) return false;
  return true;
}

}  // namespace

namespace secret_key_detail {

bool endsWithSecretName(std::string_view name) {
  const char last = asciiLower(name.back());
  for (std::string_view suffix : kSecretSuffixes)
    if (suffix.back() == last && endsWithRuleName(name, suffix)) return true;
  for (std::string_view secret : kSecretNames)
    if (name.size() == secret.size() && endsWithRuleName(name, secret)) return true;
  return false;
}

}  // namespace secret_key_detail

void scrubForRecord(json::value& v) {
  if (v.is_object()) {
    for (auto& kv : v.as_object()) {
      if (isSecretKey(std::string_view(kv.key().data(), kv.key().size())))
        kv.value() = kRedacted;
      else
        scrubForRecord(kv.value());
    }
  } else if (v.is_array()) {
    for (auto& item : v.as_array()) scrubForRecord(item);
  } else if (v.is_double() && !std::isfinite(v.get_double())) {
    // 1e999 is valid JSON but no double: Boost.JSON reads it as infinity and
    // would write it back as the bare word Infinity, which is not JSON.
    v = v.get_double() > 0 ? "Infinity" : "-Infinity";
  }
}

namespace {

// A form name's characters: '%' too, for percent-encoded names.
bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == '%';
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = asciiLower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// Stands for a non-ASCII character in a decoded name: the rule's names are
// ASCII, so such a character can only be part of what precedes a suffix,
// and which one it is does not matter.
constexpr char kNonAscii = '\x80';

// The text paths read a name as its reader would, so that spelling it with
// escapes does not get a secret past the rule: a JSON name ("api\u005fkey" is
// api_key to every JSON reader of the record) and a form or multipart name
// ("api%5Fkey" is api_key to every form reader). Decoding, rather than
// counting every escaped name as secret, keeps ordinary names spelt with an
// escaped non-ASCII character ("caf\u00e9"). An invalid JSON escape reads as
// the character after its backslash, an invalid percent escape as itself:
// such text is no JSON or form, and a lenient reader reads it so. Only names
// with an escape are copied.
bool isSecretJsonName(std::string_view raw) {
  if (raw.find('\\') == std::string_view::npos) return isSecretKey(raw);
  std::string name;
  name.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      name += raw[i];
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'b': name += '\b'; break;
      case 'f': name += '\f'; break;
      case 'n': name += '\n'; break;
      case 'r': name += '\r'; break;
      case 't': name += '\t'; break;
      case 'u': {
        int code = 0;
        for (std::size_t k = 1; k <= 4 && code >= 0; ++k) {
          const int d = i + k < raw.size() ? hexDigit(raw[i + k]) : -1;
          code = d < 0 ? -1 : code * 16 + d;
        }
        if (code < 0) {
          name += 'u';
        } else {
          name += code < 0x80 ? static_cast<char>(code) : kNonAscii;
          i += 4;
        }
        break;
      }
      default: name += e;  // " \ / (and invalid escapes)
    }
  }
  return isSecretKey(name);
}

bool isSecretFormName(std::string_view raw) {
  if (raw.find('%') == std::string_view::npos) return isSecretKey(raw);
  std::string name;
  name.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const int hi = raw[i] == '%' && i + 2 < raw.size() ? hexDigit(raw[i + 1]) : -1;
    const int lo = hi >= 0 ? hexDigit(raw[i + 2]) : -1;
    if (lo < 0) {
      name += raw[i];
      continue;
    }
    name += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return isSecretKey(name);
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
      if (i < in.size() && in[i] == '=' && isSecretFormName(name)) {
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
        if (isSecretFormName(name) && in.compare(i, 4, "\r\n\r\n") == 0) {
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
    if (!isSecretJsonName(token)) continue;
    std::size_t j = i;
    while (j < text.size() && isJsonWhitespace(text[j])) ++j;
    if (j >= text.size() || text[j] != ':') continue;
    ++j;
    while (j < text.size() && isJsonWhitespace(text[j])) ++j;
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
        if (c == '"') {
          // A string in the value: its brackets and commas are text.
          ++i;
          while (i < text.size() && text[i] != '"') i += (text[i] == '\\') ? 2 : 1;
          i = std::min(i + 1, text.size());
          continue;
        }
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

}  // namespace gw
