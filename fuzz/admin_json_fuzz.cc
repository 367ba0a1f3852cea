// Fuzzes the admin API's key and budget bodies and the stored key form
// (src/keys/virtual_key.h). The input is one JSON document (at most 64 KiB;
// not JSON: nothing to do), given to every parser:
//
//  - parseKeyCreate, parseKeyPatch (against a key with every field set) and
//    fromStoredJson: an accepted key holds only values the admin API allows;
//    given an id, hash and created_at, it comes back unchanged from
//    toStoredJson -> fromStoredJson, and from its stored text (a budget's
//    usd to within a few ULP: Boost.JSON 1.81 does not parse every double
//    exactly); its admin object has no "key" or "hash"; sent back to itself
//    as a patch it changes nothing.
//  - parseBudget: an accepted budget's admin object reads back as the same
//    budget.
//  - Every refusal is a 400 invalid_request whose message starts with a
//    field path and a space, and is short (no client value echoed).
#include "keys/virtual_key.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
using gw::keys::Budget;
using gw::keys::VirtualKey;

constexpr std::size_t kMaxInput = std::size_t{64} * 1024;
constexpr std::int64_t kNow = 1796551200;  // 2026-12-06T10:00:00Z
// Longest refusal: a fixed problem text after a field name of at most 64
// bytes plus "..." and a prefix such as "budget.".
constexpr std::size_t kMaxMessage = 200;

template <class T>
void checkRefusal(const gw::Result<T>& r) {
  if (r) return;
  const gw::Error& e = r.error();
  if (e.http_status != 400 || e.code != "invalid_request" || e.type != "invalid_request_error") std::abort();
  const std::size_t space = e.message.find(' ');
  if (space == 0 || space == std::string::npos || e.message.size() > kMaxMessage) std::abort();
}

bool validText(const std::string& s) { return s.size() <= 256; }

void checkValues(const VirtualKey& k) {
  if (!validText(k.name)) std::abort();
  for (const auto* text : {&k.project_id, &k.org_id, &k.user_id})
    if (*text && !validText(**text)) std::abort();
  if (k.allowed_models) {
    if (k.allowed_models->empty() || k.allowed_models->size() > 1000) std::abort();
    for (const auto& m : *k.allowed_models)
      if (m.empty() || !validText(m)) std::abort();
  }
  for (const auto* n : {&k.rpm, &k.tpm})
    if (*n && (**n < 1 || **n > 1'000'000'000'000)) std::abort();
  if (k.budget && !(k.budget->usd >= 0 && k.budget->usd <= 1e12)) std::abort();
  if (k.expires_at && (*k.expires_at < 1 || *k.expires_at > 253402300799)) std::abort();
}

bool closeEnough(double a, double b) { return a == b || std::abs(a - b) <= 1e-15 * std::abs(a); }

// The key read back from its stored text: equal, but for the last bits of a
// budget's usd.
void checkStoredText(const VirtualKey& k) {
  boost::system::error_code ec;
  const json::value text = json::parse(json::serialize(gw::keys::toStoredJson(k)), ec);
  if (ec) std::abort();
  auto back = gw::keys::fromStoredJson(text);
  if (!back) std::abort();
  if (k.budget && back->budget) {
    if (!closeEnough(k.budget->usd, back->budget->usd)) std::abort();
    back->budget->usd = k.budget->usd;
  }
  if (*back != k) std::abort();
}

void checkAcceptedKey(VirtualKey k) {
  checkValues(k);
  if (k.id.empty()) {
    k.id = "vk_0123456789abcdef01234567";
    k.hash = std::string(64, 'e');
    k.created_at = kNow;
  }
  const json::object admin = gw::keys::toAdminJson(k);
  if (admin.contains("key") || admin.contains("hash")) std::abort();
  auto stored = gw::keys::fromStoredJson(gw::keys::toStoredJson(k));
  if (!stored || *stored != k) std::abort();
  checkStoredText(k);
  auto again = gw::keys::parseKeyPatch(admin, k, kNow);
  if (!again || *again != k) std::abort();
}

VirtualKey patchTarget() {
  VirtualKey k;
  k.id = "vk_fedcba9876543210fedcba98";
  k.hash = std::string(64, 'a');
  k.name = "target";
  k.project_id = "p";
  k.org_id = "o";
  k.user_id = "u";
  k.allowed_models = std::vector<std::string>{"gpt-4o*"};
  k.rpm = 60;
  k.tpm = 1000;
  k.budget = Budget{5, gw::keys::Period::kDay};
  k.expires_at = kNow - 60;  // expired: a patch may keep it
  k.created_at = kNow - 3600;
  return k;
}

template <class T, class Check>
void run(const gw::Result<T>& r, Check check) {
  checkRefusal(r);
  if (r) check(*r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInput) return 0;
  boost::system::error_code ec;
  const json::value body = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec) return 0;

  run(gw::keys::parseKeyCreate(body, kNow), [](const VirtualKey& k) {
    if (k.expires_at && *k.expires_at <= kNow) std::abort();
    checkAcceptedKey(k);
  });
  static const VirtualKey target = patchTarget();
  run(gw::keys::parseKeyPatch(body, target, kNow), [](const VirtualKey& k) {
    if (k.id != target.id || k.hash != target.hash || k.created_at != target.created_at) std::abort();
    checkAcceptedKey(k);
  });
  run(gw::keys::fromStoredJson(body), [](const VirtualKey& k) { checkAcceptedKey(k); });
  run(gw::keys::parseBudget(body), [](const Budget& b) {
    auto back = gw::keys::parseBudget(gw::keys::toAdminJson(b));
    if (!back || *back != b) std::abort();
  });
  return 0;
}
