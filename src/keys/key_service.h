// Virtual keys, rate limits and budgets at run time (docs/keys-and-budgets.md).
//
//   KeyService   one per process (main). Owns the key table, the local
//                state (GATEWAY_STATE_DIR, or this instance's own view when
//                Redis is the authority) and the accounting thread, which
//                adds each record's tokens and spend to the state store and
//                polls Redis for admin changes made by other instances.
//   KeyWorker    one per worker thread (KeyService::attachWorker, called on
//                that thread). Admission of requests and the admin API run
//                on it, with the worker's own Redis connection: no lock is
//                shared with other workers on the Redis path, no call blocks.
//
// State store: without REDIS_URL the local state is the authority and
// everything happens in the process. With REDIS_URL, Redis is: admissions
// and counters are Lua scripts (EVALSHA) so N instances enforce one limit;
// when Redis fails, REDIS_FAILURE_MODE decides (open: this instance's local
// view, which follows what Redis last said; closed: 503 state_unavailable).
#pragma once

#include "gw/config_source.h"
#include "gw/error.h"
#include "gw/metrics.h"
#include "keys/virtual_key.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gw::keys {

namespace net = boost::asio;

// REDIS_URL, REDIS_TIMEOUT_MS, REDIS_FAILURE_MODE, GATEWAY_ADMIN_KEY and
// GATEWAY_STATE_DIR (declared in config/core_settings.h).
struct KeyServiceOptions {
  std::string redis_url;  // "" = local mode
  std::chrono::milliseconds redis_timeout{50};
  bool fail_closed = false;  // REDIS_FAILURE_MODE=closed
  std::string admin_key;     // "" = admin API off (404)
  std::string state_dir = "gateway-state";
  // How often the accounting thread asks Redis whether the keys changed.
  std::chrono::milliseconds poll_interval{250};

  // Errors are configuration errors whose message starts with the variable.
  static Result<KeyServiceOptions> fromConfig(const ConfigSource& config);
};

// What a request presents and asks for, for admission.
struct AdmissionRequest {
  std::string_view presented_key;  // a "gw-..." token, or "" when none
  std::string_view model;          // the body's "model", or ""
  // The tracking headers, used for project and user budgets when no key
  // names them.
  std::optional<std::string_view> project_header, user_header;
};

// The outcome of admission.
struct Admission {
  // Set when the request was refused: the error the client gets (401, 403,
  // 429, 503), with its Retry-After.
  std::optional<Error> refusal;
  // Why a 429 was given ("rpm", "tpm", "budget") for the metric; "" else.
  std::string_view limited_by;
  bool should_not_retry = false;  // budget_exceeded: x-should-retry: false
  // The key, when one was presented and found (also on some refusals).
  std::shared_ptr<const VirtualKey> key;
  // The project and user the request is accounted to ("" when none).
  std::string project_id, user_id;
  // Whether the request's record must reach account(): a key, or a project
  // or user with a budget.
  bool accounted = false;
  // "x-ratelimit-...: v\r\n" lines for every limit the key has, or "".
  std::string rate_limit_headers;
};

// One finished request, for the counters: from the telemetry thread.
struct UsageEvent {
  std::string key_id;  // "" when the request had no key
  std::string project_id, user_id;
  std::int64_t input_tokens = 0, output_tokens = 0;
  std::int64_t cost_picos = 0;
  std::int64_t unix_seconds = 0;  // when the record was made
};

// An admin API answer: status and JSON body (the OpenAI error shape on
// errors), Retry-After for 503s.
struct AdminResponse {
  int status = 200;
  std::string body;
  int retry_after_seconds = 0;
};

class KeyService;

class KeyWorker {
 public:
  ~KeyWorker();
  KeyWorker(const KeyWorker&) = delete;
  KeyWorker& operator=(const KeyWorker&) = delete;

  // Whether admission has anything to check for a request without a key:
  // a project or user budget exists. Cheap; on the worker's thread.
  bool budgetsApplyWithoutKey();

  // Checks a request (a key, its model, limits, budgets) and counts it
  // against the rpm window when admitted. Never waits longer than
  // REDIS_TIMEOUT_MS for Redis.
  net::awaitable<Admission> admit(const AdmissionRequest& request);

  // The admin API: `path` starts with "/admin/". Checks the admin key.
  net::awaitable<AdminResponse> handleAdmin(std::string_view method, std::string_view path,
                                            std::string_view authorization, std::string_view body);

  // The dashboard's keys view (read-only): {"enabled", "keys": [the admin
  // key objects with their "usage" for the current period, newest first, at
  // most 500], "budgets": [project and user budgets with "scope", "id" and
  // "usage"], "truncated"}. The caller checks the admin key. Same store
  // and errors as the admin API.
  net::awaitable<AdminResponse> dashboardKeys();

  // Closes the worker's state connection (shutdown: its pending read would
  // keep the io_context running). Later admissions use the local view.
  void close();

  struct Impl;

 private:
  friend class KeyService;
  explicit KeyWorker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class KeyService {
 public:
  // Reads the local state (GATEWAY_STATE_DIR: a corrupt file is an error
  // naming it), parses REDIS_URL, declares the metrics and starts the
  // accounting thread (which connects to Redis in the background: an
  // unreachable Redis does not stop start-up). From main().
  static Result<std::unique_ptr<KeyService>> start(KeyServiceOptions options, MetricsRegistry& metrics);
  ~KeyService();
  KeyService(const KeyService&) = delete;
  KeyService& operator=(const KeyService&) = delete;

  // Whether GATEWAY_ADMIN_KEY is set (the admin API is served).
  bool adminEnabled() const;

  // A worker's handle, made and used on the worker's thread only, on its
  // io_context; destroy it on that thread before the io_context.
  std::unique_ptr<KeyWorker> attachWorker(net::io_context& io);

  // Adds a finished request's tokens and spend. From the telemetry thread,
  // or from a worker thread when nothing is exported (Telemetry's usage
  // observer); never blocks (hands the event to the accounting thread).
  void account(UsageEvent event);

  // Route cooldowns, shared through Redis (without it these do nothing:
  // the process's own cooldowns are all there is). shareCooldown: a
  // cooldown this instance started, until a unix time in milliseconds; any
  // thread, never blocks. setCooldownSink: called on the accounting thread,
  // at every poll, with each shared cooldown that has not ended (this
  // instance's own included); set once by main() before requests start.
  using CooldownSink = std::function<void(std::string_view target_id, std::int64_t until_unix_ms)>;
  void shareCooldown(std::string target_id, std::int64_t until_unix_ms);
  void setCooldownSink(CooldownSink sink);

  // The /health "state_store" object. Any thread.
  boost::json::object health() const;

  // Writes what is pending (local usage file; Redis accounting for at
  // most `budget`) and stops the accounting thread. From main(), after the
  // workers and telemetry have stopped. Idempotent.
  void stop(std::chrono::milliseconds budget);

  struct Impl;

 private:
  explicit KeyService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace gw::keys
