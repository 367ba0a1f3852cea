#include "keys/key_state.h"

#include "gw/config_source.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gw::keys {

namespace json = boost::json;

std::string_view toString(Scope scope) {
  switch (scope) {
    case Scope::kKey: return "key";
    case Scope::kProject: return "project";
    case Scope::kUser: return "user";
  }
  return "key";
}

std::string usageName(Scope scope, std::string_view id, Period period, std::int64_t unix_seconds) {
  return usageName(scope, id, periodId(period, unix_seconds));
}

std::string usageName(Scope scope, std::string_view id, std::string_view period_id) {
  static constexpr std::string_view kPrefix = "gw:usage:";
  const std::string_view scope_name = toString(scope);
  std::string name;
  name.reserve(kPrefix.size() + scope_name.size() + id.size() + period_id.size() + 2);
  name.append(kPrefix).append(scope_name).append(1, ':').append(id).append(1, ':').append(period_id);
  return name;
}

std::int64_t usageTtlSeconds(Period period) {
  switch (period) {
    case Period::kDay: return 3 * 86400;
    case Period::kMonth: return 400 * 86400;
    case Period::kTotal: return 0;
  }
  return 0;
}

std::string rpmName(std::string_view key_id, std::int64_t unix_seconds) {
  return "gw:rpm:" + std::string(key_id) + ":" + std::to_string(unix_seconds / 60);
}
std::string tpmName(std::string_view key_id, std::int64_t unix_seconds) {
  return "gw:tpm:" + std::string(key_id) + ":" + std::to_string(unix_seconds / 60);
}
std::string budgetField(Scope scope, std::string_view id) {
  return std::string(toString(scope)) + ":" + std::string(id);
}

void UsageCounts::add(const UsageCounts& o) {
  requests += o.requests;
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  spend_picos += o.spend_picos;
}

const Budget* KeyTable::budgetOf(Scope scope, std::string_view id) const {
  if (id.empty() || budgets.empty()) return nullptr;
  auto it = budgets.find(budgetField(scope, id));
  return it == budgets.end() ? nullptr : &it->second;
}

std::shared_ptr<const KeyTable> buildKeyTable(const std::vector<std::pair<std::string, std::string>>& keys,
                                              const std::vector<std::pair<std::string, std::string>>& budgets,
                                              std::int64_t version, std::vector<std::string>& problems) {
  auto table = std::make_shared<KeyTable>();
  table->loaded = true;
  table->version = version;
  for (const auto& [id, text] : keys) {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) {
      problems.push_back("key " + id + ": not JSON");
      continue;
    }
    auto key = fromStoredJson(v);
    if (!key) {
      problems.push_back("key " + id + ": " + key.error().message);
      continue;
    }
    if (key->id != id) {
      problems.push_back("key " + id + ": stored under another id");
      continue;
    }
    auto shared = std::make_shared<const VirtualKey>(std::move(*key));
    table->by_hash[shared->hash] = shared;
    table->by_id[shared->id] = shared;
    table->in_order.push_back(shared);
  }
  std::sort(table->in_order.begin(), table->in_order.end(), [](const auto& a, const auto& b) {
    return a->created_at != b->created_at ? a->created_at < b->created_at : a->id < b->id;
  });
  for (const auto& [field, text] : budgets) {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) {
      problems.push_back("budget " + field + ": not JSON");
      continue;
    }
    auto budget = parseBudget(v);
    if (!budget) {
      problems.push_back("budget " + field + ": " + budget.error().message);
      continue;
    }
    table->budgets[field] = *budget;
  }
  return table;
}

// -- LocalState ------------------------------------------------------------------

namespace {

constexpr std::string_view kKeysFile = "keys.json";
constexpr std::string_view kUsageFile = "usage.json";

// Writes `text` to dir/name by a temporary file, fsync and rename, so a
// crash leaves the old file or the new one, never half of one.
Status writeAtomically(const std::filesystem::path& dir, std::string_view name, const std::string& text) {
  std::error_code fec;
  std::filesystem::create_directories(dir, fec);
  if (fec) return configError("GATEWAY_STATE_DIR", "cannot create " + dir.string() + ": " + fec.message());
  const std::filesystem::path target = dir / std::string(name);
  const std::filesystem::path temp = dir / (std::string(name) + ".tmp");
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return configError("GATEWAY_STATE_DIR", "cannot write " + temp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return configError("GATEWAY_STATE_DIR", "cannot write " + temp.string() + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return configError("GATEWAY_STATE_DIR", "cannot write " + temp.string() + ": " + std::strerror(errno));
  std::filesystem::rename(temp, target, fec);
  if (fec) return configError("GATEWAY_STATE_DIR", "cannot replace " + target.string() + ": " + fec.message());
  return ok();
}

Result<std::optional<json::value>> readJsonFile(const std::filesystem::path& path) {
  std::error_code fec;
  if (!std::filesystem::exists(path, fec)) return std::optional<json::value>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return configError("GATEWAY_STATE_DIR", "cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  json::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return configError("GATEWAY_STATE_DIR", path.string() + " is not a JSON object");
  return std::optional<json::value>(std::move(v));
}

std::int64_t integerMember(const json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  return v && v->is_int64() ? v->as_int64() : 0;
}

// The unix minute a window name ends with.
std::optional<std::int64_t> windowMinute(std::string_view name) {
  auto colon = name.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::int64_t minute = 0;
  for (char c : name.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    minute = minute * 10 + (c - '0');
  }
  return minute;
}

}  // namespace

LocalState::LocalState(std::filesystem::path dir) : dir_(std::move(dir)) {}

Status LocalState::load() {
  if (dir_.empty()) return ok();
  auto keys = readJsonFile(dir_ / std::string(kKeysFile));
  if (!keys) return keys.error();
  auto usage = readJsonFile(dir_ / std::string(kUsageFile));
  if (!usage) return usage.error();
  std::lock_guard lock(mutex_);
  if (*keys) {
    for (std::string_view hash : {kKeysHash, kBudgetsHash}) {
      auto* entries = (*keys)->as_object().if_contains(hash);
      if (!entries) continue;
      if (!entries->is_object())
        return configError("GATEWAY_STATE_DIR", (dir_ / std::string(kKeysFile)).string() + ": " + std::string(hash) +
                                                    " is not an object");
      auto& target = hashes_[std::string(hash)];
      for (const auto& [field, value] : entries->as_object())
        target[std::string(field)] = json::serialize(value);
    }
  }
  if (*usage) {
    for (const auto& [name, value] : (*usage)->as_object()) {
      if (!value.is_object()) continue;
      const auto& o = value.as_object();
      usage_[std::string(name)] = UsageCounts{integerMember(o, "requests"), integerMember(o, "input_tokens"),
                                              integerMember(o, "output_tokens"), integerMember(o, "spend_pusd")};
    }
  }
  return ok();
}

std::optional<std::string> LocalState::hashGet(std::string_view hash, std::string_view field) const {
  std::lock_guard lock(mutex_);
  auto h = hashes_.find(hash);
  if (h == hashes_.end()) return std::nullopt;
  auto f = h->second.find(field);
  if (f == h->second.end()) return std::nullopt;
  return f->second;
}

std::vector<std::pair<std::string, std::string>> LocalState::hashGetAll(std::string_view hash) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::string>> out;
  auto h = hashes_.find(hash);
  if (h != hashes_.end()) out.assign(h->second.begin(), h->second.end());
  return out;
}

Status LocalState::hashSet(std::string_view hash, std::string_view field, std::optional<std::string> value) {
  std::lock_guard lock(mutex_);
  auto& h = hashes_[std::string(hash)];
  std::optional<std::string> before;
  if (auto it = h.find(field); it != h.end()) before = it->second;
  if (value) h[std::string(field)] = std::move(*value);
  else h.erase(std::string(field));
  Status saved = saveKeys();
  if (!saved) {  // the change is kept only if it is persisted
    if (before) h[std::string(field)] = std::move(*before);
    else h.erase(std::string(field));
  }
  return saved;
}

Status LocalState::saveKeys() {
  if (dir_.empty()) return ok();
  json::object root;
  for (const auto& [hash, entries] : hashes_) {
    json::object o;
    for (const auto& [field, text] : entries) {
      json::error_code ec;
      json::value v = json::parse(text, ec);
      if (!ec) o[field] = std::move(v);
    }
    root[hash] = std::move(o);
  }
  return writeAtomically(dir_, kKeysFile, json::serialize(root));
}

AdmissionCounts LocalState::admit(const AdmissionPlan& plan) {
  std::lock_guard lock(mutex_);
  AdmissionCounts c;
  for (std::size_t i = 0; i < plan.budgets.size(); ++i) {
    auto it = usage_.find(plan.budgets[i].usage_name);
    const std::int64_t spend = it == usage_.end() ? 0 : it->second.spend_picos;
    c.spends.push_back(spend);
    if (spend >= plan.budgets[i].limit_picos) {
      c.verdict = AdmissionCounts::Verdict::kBudget;
      c.budget_index = i;
      return c;
    }
  }
  if (!plan.tpm_name.empty()) {
    auto it = windows_.find(plan.tpm_name);
    c.tokens = it == windows_.end() ? 0 : it->second;
    if (c.tokens >= plan.tpm) {
      c.verdict = AdmissionCounts::Verdict::kTokens;
      return c;
    }
  }
  if (!plan.rpm_name.empty()) {
    std::int64_t& count = windows_[plan.rpm_name];
    if (count >= plan.rpm) {
      c.requests = count;
      c.verdict = AdmissionCounts::Verdict::kRequests;
      return c;
    }
    c.requests = ++count;
  }
  return c;
}

void LocalState::follow(const AdmissionPlan& plan, const AdmissionCounts& counts) {
  std::lock_guard lock(mutex_);
  if (!plan.rpm_name.empty()) {
    auto& v = windows_[plan.rpm_name];
    v = std::max(v, counts.requests);
  }
  if (!plan.tpm_name.empty()) {
    auto& v = windows_[plan.tpm_name];
    v = std::max(v, counts.tokens);
  }
  for (std::size_t i = 0; i < plan.budgets.size() && i < counts.spends.size(); ++i) {
    auto& u = usage_[plan.budgets[i].usage_name];
    u.spend_picos = std::max(u.spend_picos, counts.spends[i]);
  }
}

void LocalState::addUsage(const std::string& usage_name, const UsageCounts& counts) {
  std::lock_guard lock(mutex_);
  usage_[usage_name].add(counts);
  usage_changed_ = true;
}

void LocalState::addTokens(const std::string& tpm_name, std::int64_t tokens) {
  std::lock_guard lock(mutex_);
  windows_[tpm_name] += tokens;
}

UsageCounts LocalState::usage(const std::string& usage_name) const {
  std::lock_guard lock(mutex_);
  auto it = usage_.find(usage_name);
  return it == usage_.end() ? UsageCounts{} : it->second;
}

void LocalState::prune(std::int64_t now_unix) {
  std::lock_guard lock(mutex_);
  const std::int64_t minute = now_unix / 60;
  std::erase_if(windows_, [minute](const auto& entry) {
    auto m = windowMinute(entry.first);
    return !m || *m + 2 <= minute;
  });
  // Day and month usage of an earlier period is never read again.
  const std::string today = periodId(Period::kDay, now_unix), month = periodId(Period::kMonth, now_unix);
  const auto before = usage_.size();
  std::erase_if(usage_, [&](const auto& entry) {
    std::string_view name = entry.first;
    std::string_view period = name.substr(name.rfind(':') + 1);
    if (period.starts_with('d')) return period < std::string_view(today) && period.size() == today.size();
    if (period.starts_with('m')) return period < std::string_view(month) && period.size() == month.size();
    return false;
  });
  if (usage_.size() != before) usage_changed_ = true;
}

Status LocalState::saveUsageIfChanged() {
  std::string text;
  {
    std::lock_guard lock(mutex_);
    if (!usage_changed_ || dir_.empty()) return ok();
    json::object root;
    for (const auto& [name, u] : usage_)
      root[name] = json::object{{"requests", u.requests},
                                {"input_tokens", u.input_tokens},
                                {"output_tokens", u.output_tokens},
                                {"spend_pusd", u.spend_picos}};
    text = json::serialize(root);
    usage_changed_ = false;
  }
  Status st = writeAtomically(dir_, kUsageFile, text);
  if (!st) {
    std::lock_guard lock(mutex_);
    usage_changed_ = true;
  }
  return st;
}

}  // namespace gw::keys
