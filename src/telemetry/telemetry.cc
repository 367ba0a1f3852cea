#include "telemetry/telemetry.h"

#include "common/log.h"
#include "config/core_settings.h"
#include "gw/metrics_endpoint.h"
#include "telemetry/spooler.h"

#include <boost/lockfree/queue.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <unordered_map>

namespace gw {

namespace {
constexpr std::size_t kMaxIngestCapacity = 65534;  // boost::lockfree fixed_sized uses 16-bit node indexes
constexpr std::chrono::seconds kDropLogInterval{10};

// The memory a submitted record holds until the telemetry thread has built
// it: its bodies and stream chunks, plus a fixed part for the rest.
std::size_t ingestFootprint(const RequestRecord& r) {
  return r.request_body.size() + r.response_body.size() + r.observation.chunk_bytes + 1024;
}
std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("telemetry");
  return l;
}
}  // namespace

Result<TelemetryOptions> TelemetryOptions::fromConfig(const ConfigSource& source) {
  const CoreSettings config(source);
  TelemetryOptions o;
  auto integer = [&](CoreSettings::Name name, std::int64_t def, std::int64_t min, std::int64_t max,
                     auto&& assign) -> Status {
    auto v = config.getInt(name, def, min, max);
    if (!v) return v.error();
    assign(*v);
    return ok();
  };
  using std::chrono::milliseconds;
  auto& e = o.exporter;
  for (auto st : {
           integer("TELEMETRY_BATCH_SIZE", 100, 1, 100000, [&](auto v) { e.batch_size = static_cast<std::size_t>(v); }),
           integer("TELEMETRY_FLUSH_INTERVAL_MS", 1000, 1, 3600000,
                   [&](auto v) { e.flush_interval = milliseconds(v); }),
           integer("TELEMETRY_QUEUE_SIZE", 10000, 1, 10000000,
                   [&](auto v) { e.queue_capacity = static_cast<std::size_t>(v); }),
           integer("TELEMETRY_QUEUE_MAX_BYTES", 16ll << 20, 1, 1ll << 50,
                   [&](auto v) { e.queue_max_bytes = static_cast<std::size_t>(v); }),
           integer("METRICS_MAX_SERIES", 10000, 1, 10000000,
                   [&](auto v) { o.metrics_max_series = static_cast<std::size_t>(v); }),
           integer("TELEMETRY_INGEST_MAX_BYTES", 128ll << 20, 1, 1ll << 50,
                   [&](auto v) { o.ingest_max_bytes = static_cast<std::size_t>(v); }),
           integer("TELEMETRY_MAX_RETRIES", 5, 0, 1000, [&](auto v) { e.retry.max_retries = static_cast<int>(v); }),
           integer("TELEMETRY_RETRY_INITIAL_MS", 500, 1, 3600000,
                   [&](auto v) { e.retry.initial_backoff = milliseconds(v); }),
           integer("TELEMETRY_RETRY_MAX_MS", 30000, 1, 3600000, [&](auto v) { e.retry.max_backoff = milliseconds(v); }),
           integer("TELEMETRY_BREAKER_FAILURES", 5, 1, 1000, [&](auto v) { e.breaker_failures = static_cast<int>(v); }),
           integer("TELEMETRY_BREAKER_OPEN_MS", 30000, 1, 3600000, [&](auto v) { e.breaker_open = milliseconds(v); }),
           integer("TELEMETRY_INGEST_QUEUE_SIZE", 16384, 1, static_cast<std::int64_t>(kMaxIngestCapacity),
                   [&](auto v) { o.ingest_capacity = static_cast<std::size_t>(v); }),
           integer("TELEMETRY_SPOOL_MAX_BYTES", 256ll << 20, 0, 1ll << 50,
                   [&](auto v) { o.spool_max_bytes = static_cast<std::uint64_t>(v); }),
       })
    if (!st) return st.error();
  o.spool_dir = config.getString("TELEMETRY_SPOOL_DIR", "telemetry-spool");
  auto fsync = parseFsyncPolicy("TELEMETRY_SPOOL_FSYNC", config.getString("TELEMETRY_SPOOL_FSYNC", "batch"));
  if (!fsync) return fsync.error();
  o.spool_fsync = *fsync;
  return o;
}

struct Telemetry::Impl {
  MetricsRegistry metrics;                       // first: outlives every handle into it
  UsageObserver usage_observer;                  // set before requests start; read by the telemetry thread
  std::vector<RecordObserver> record_observers;  // the same
  // TELEMETRY_SPOOL_DIR's lock, held while any spool may be written:
  // declared before `workers`, so it is released only after every spool is
  // closed.
  SpoolDirLock spool_lock;
  std::unique_ptr<RecordBuilder> builder;
  boost::lockfree::queue<RequestRecord*, boost::lockfree::fixed_sized<true>> ingest;
  // Bytes held by the records in `ingest` (ingestFootprint): bounded by
  // TELEMETRY_INGEST_MAX_BYTES as the queue is by record count, so that large
  // bodies cannot pile up in memory while the telemetry thread is behind.
  std::atomic<std::size_t> ingest_bytes{0};
  std::size_t ingest_max_bytes = 128u << 20;
  std::atomic<bool> accepting{true};
  // ENABLED_EXPORTERS=none: nobody consumes records or metrics, so the
  // request path discards records at once and no telemetry thread runs.
  bool export_off = false;
  std::atomic<bool> stopping{false};
  std::mutex stop_mutex;  // only for the telemetry thread's idle wait, never on the request path
  std::condition_variable stop_cv;
  bool shut_down = false;
  std::thread thread;

  // The memory bound of every record waiting in an exporter queue or spill
  // lane (TELEMETRY_QUEUE_MAX_BYTES): declared before `workers`, whose
  // queues hold charges on it.
  std::unique_ptr<QueueBudget> budget;
  // Writes every worker's spill lane to its spool. Declared before
  // `workers`, which remove their lanes from it when they go; shutdown()
  // stops it (writing what the lanes hold) before it stops them.
  Spooler spooler;
  std::vector<std::unique_ptr<ExporterWorker>> workers;
  std::vector<std::unique_ptr<Exporter>> pull_exporters;  // wantsRecords() == false
  const MetricsEndpoint* metrics_endpoint = nullptr;

  Counter requests, tokens, cost, errors, attempts, cost_lookups;
  Histogram duration, ttfb, provider_latency, overhead;

  // The series of one (provider, model), each resolved on its first use
  // (so that no series appears before it has a value) and then kept: a
  // label lookup costs label strings, a key, a lock and a hash, and every
  // record updates up to eight series. Telemetry thread only.
  struct ModelSeries {
    std::vector<std::pair<int, metrics_detail::Series*>> requests_by_status;
    metrics_detail::Series *duration = nullptr, *ttfb = nullptr, *provider_latency = nullptr, *overhead = nullptr;
    metrics_detail::Series *input_tokens = nullptr, *output_tokens = nullptr, *cached_input_tokens = nullptr,
                           *cache_creation_tokens = nullptr, *reasoning_tokens = nullptr, *cost = nullptr;
  };
  // Keyed by provider '\xff' model. Cleared when it reaches the bound: the
  // families fold label sets beyond their own bound into "other", and
  // so must a client sending random model names not grow this map.
  std::unordered_map<std::string, ModelSeries> model_series;
  std::string model_series_key;  // reused: no allocation per record
  static constexpr std::size_t kMaxModelSeries = 4096;
  // ai_gateway_cost_lookups_total's series by CostStatus, each bound on first use.
  std::array<metrics_detail::Series*, kCostStatusCount> cost_lookups_by_status{};
  metrics_detail::Series* active = nullptr;
  metrics_detail::Series* ingest_dropped = nullptr;
  std::atomic<std::int64_t> last_drop_log_ns{0};

  Impl(std::size_t capacity, std::size_t max_series) : metrics(max_series), ingest(capacity) {}
};

Telemetry::Telemetry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Telemetry::~Telemetry() {
  shutdown(std::chrono::milliseconds(0));
  RequestRecord* r = nullptr;
  while (impl_->ingest.pop(r)) delete r;
}

MetricsRegistry& Telemetry::metrics() { return impl_->metrics; }

void Telemetry::setUsageObserver(UsageObserver observer) { impl_->usage_observer = std::move(observer); }
void Telemetry::addRecordObserver(RecordObserver observer) { impl_->record_observers.push_back(std::move(observer)); }

Result<std::unique_ptr<Telemetry>> Telemetry::start(const Settings& settings, const ConfigSource& config,
                                                    const ExporterRegistry& registry) {
  auto pricing = loadPricing(settings);
  if (!pricing) return pricing.error();
  return start(settings, config, registry, std::move(*pricing));
}

Result<std::shared_ptr<const PricingTable>> Telemetry::loadPricing(const Settings& settings) {
  std::shared_ptr<const PricingTable> pricing;
  std::string path = settings.pricing_file.empty() ? PricingTable::defaultPath() : settings.pricing_file;
  if (path.empty()) {
    logger()->warn("no pricing table found ({}); every record's cost is null. Set PRICING_FILE.",
                   "model_prices_and_context_window.json");
  } else {
    auto table = PricingTable::load(path);
    if (!table) {
      if (!settings.pricing_file.empty()) return table.error();
      logger()->warn("{}; every record's cost is null", table.error().message);
    } else {
      pricing = std::make_shared<const PricingTable>(std::move(*table));
    }
  }
  return pricing;
}

Result<std::unique_ptr<Telemetry>> Telemetry::start(const Settings& settings, const ConfigSource& config,
                                                    const ExporterRegistry& registry,
                                                    std::shared_ptr<const PricingTable> pricing) {
  auto options = TelemetryOptions::fromConfig(config);
  if (!options) return options.error();
  auto impl =
      std::make_unique<Impl>(std::min(options->ingest_capacity, kMaxIngestCapacity), options->metrics_max_series);
  impl->ingest_max_bytes = options->ingest_max_bytes;

  RecordBuilderOptions bo;
  bo.service_name = settings.service_name;
  bo.deployment_environment = settings.deployment_environment;
  bo.capture_bodies = settings.capture_bodies;
  bo.max_body_bytes = settings.telemetry_max_body_bytes;
  impl->builder = std::make_unique<RecordBuilder>(std::move(bo), std::move(pricing));

  // The metrics docs/exporters.md lists, declared before any exporter can read them.
  auto& m = impl->metrics;
  const auto& dur = MetricsRegistry::durationBuckets();
  impl->requests =
      m.counter("ai_gateway_requests_total", "Proxied requests", "1", {"provider", "model", "status_code"});
  impl->duration =
      m.histogram("ai_gateway_request_duration_seconds", "Request latency: request received to response finished", "s",
                  {"provider", "model"}, dur);
  impl->ttfb = m.histogram("ai_gateway_ttfb_seconds", "Time to first response byte sent to the client", "s",
                           {"provider", "model"}, dur);
  impl->provider_latency =
      m.histogram("ai_gateway_provider_latency_seconds", "Upstream latency: request sent to upstream response finished",
                  "s", {"provider", "model"}, dur);
  impl->overhead =
      m.histogram("ai_gateway_overhead_seconds", "Time the gateway added: request latency minus provider latency", "s",
                  {"provider", "model"}, MetricsRegistry::overheadBuckets());
  impl->tokens =
      m.counter("ai_gateway_tokens_total", "Tokens reported by providers", "1", {"provider", "model", "type"});
  impl->cost = m.counter("ai_gateway_cost_usd_total", "Cost of requests in USD (models with a known price)", "USD",
                         {"provider", "model"});
  impl->errors = m.counter("ai_gateway_errors_total", "Requests that ended in an error, by error type", "1",
                           {"provider", "error_type"});
  impl->cost_lookups = m.counter("ai_gateway_cost_lookups_total",
                                 "Records by cost status: priced, unpriced (no price for the model), no_usage "
                                 "(no token counts), error (no answer to price)",
                                 "1", {"status"});
  impl->attempts = m.counter("ai_gateway_attempts_total",
                             "Attempts of routed requests, by target and outcome (success, error: the attempt "
                             "that answered; retried: the gateway tried another)",
                             "1", {"provider", "model", "outcome"});
  impl->active = m.gauge("ai_gateway_active_requests", "Requests in flight", "1").bind({});
  impl->ingest_dropped = m.counter("ai_gateway_telemetry_dropped_total",
                                   "Records dropped before any exporter saw them (telemetry ingest queue full "
                                   "or submitted after shutdown)",
                                   "1")
                             .bind({});

  impl->budget = std::make_unique<QueueBudget>(
      options->exporter.queue_max_bytes,
      m.gauge("ai_gateway_telemetry_queued_bytes",
              "Memory held by the records waiting in the exporter queues and for the spool, each record counted "
              "once however many exporters it waits for (bounded by TELEMETRY_QUEUE_MAX_BYTES)",
              "By")
          .bind({}));

  ExporterContext context{config, impl->metrics};
  auto exporters = registry.create(settings.enabled_exporters, context);
  if (!exporters) return exporters.error();

  // The spool directory belongs to this gateway alone, locked before any
  // spool reads its segments. Without an exporter that receives records, or
  // with spooling off, no spool exists and the directory is left alone.
  const bool spooling = options->spool_max_bytes > 0 && std::any_of(exporters->begin(), exporters->end(),
                                                                    [](const auto& e) { return e->wantsRecords(); });
  if (spooling) {
    auto lock = SpoolDirLock::acquire(options->spool_dir);
    if (!lock) return lock.error();
    impl->spool_lock = std::move(*lock);
  }

  for (auto& exporter : *exporters) {
    if (!exporter->wantsRecords()) {
      // /metrics is served by the first enabled pull exporter that renders
      // the registry (gw/metrics_endpoint.h).
      if (auto* endpoint = dynamic_cast<const MetricsEndpoint*>(exporter.get()); endpoint && !impl->metrics_endpoint)
        impl->metrics_endpoint = endpoint;
      if (auto st = exporter->init(); !st)
        logger()->warn("exporter {}: init failed: {}", exporter->name(), st.error().message);
      impl->pull_exporters.push_back(std::move(exporter));
      continue;
    }
    std::unique_ptr<Spool> spool;
    if (options->spool_max_bytes > 0) {
      SpoolOptions so;
      so.dir = std::filesystem::path(options->spool_dir) / std::string(exporter->name());
      so.max_bytes = options->spool_max_bytes;
      so.segment_bytes = std::clamp<std::uint64_t>(options->spool_max_bytes / 8, 64 * 1024, 8ull << 20);
      so.fsync = options->spool_fsync;
      auto opened = Spool::open(std::move(so));
      if (!opened) return opened.error();
      spool = std::move(*opened);
    }
    impl->workers.push_back(std::make_unique<ExporterWorker>(std::move(exporter), options->exporter, std::move(spool),
                                                             impl->metrics, Clock::steady(), impl->budget.get(),
                                                             &impl->spooler));
  }

  impl->export_off = impl->workers.empty() && impl->pull_exporters.empty();
  std::unique_ptr<Telemetry> telemetry(new Telemetry(std::move(impl)));
  if (!telemetry->impl_->workers.empty()) telemetry->impl_->spooler.start();
  for (auto& w : telemetry->impl_->workers) w->start();
  // With nothing to export, submit() hands a keyed request's usage to the
  // usage observer itself: no record is queued, so no thread is needed.
  if (!telemetry->impl_->export_off) {
    Telemetry* self = telemetry.get();
    telemetry->impl_->thread = std::thread([self] { self->run(); });
  }
  return telemetry;
}

bool Telemetry::recordsWanted() const noexcept { return !impl_->workers.empty(); }
bool Telemetry::observationsWanted() const noexcept { return !impl_->export_off; }

void Telemetry::requestStarted() noexcept { Gauge::addTo(impl_->active, 1); }
void Telemetry::requestEnded() noexcept { Gauge::addTo(impl_->active, -1); }

void Telemetry::submit(std::unique_ptr<RequestRecord> record) noexcept {
  if (!record) return;
  Impl& im = *impl_;
  if (im.export_off) {
    // Nothing exports: only the key counters read the record, and they
    // need its summary alone, built here rather than queued for a thread.
    if (record->usage_accounted) observeUsageOnly(*record);
    return;
  }
  const std::size_t footprint = ingestFootprint(*record);
  const std::size_t held = im.ingest_bytes.fetch_add(footprint, std::memory_order_relaxed);
  // One record is always let in, however large (its bodies are already
  // capped by the capture budget).
  const bool room = held == 0 || held + footprint <= im.ingest_max_bytes;
  if (room && im.accepting.load(std::memory_order_acquire) && im.ingest.bounded_push(record.get())) {
    // No wake-up call: the telemetry thread polls (see run()), so the
    // request path never pays a futex syscall.
    record.release();
    return;
  }
  im.ingest_bytes.fetch_sub(footprint, std::memory_order_relaxed);
  Counter::addTo(im.ingest_dropped, 1);
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  auto last = im.last_drop_log_ns.load(std::memory_order_relaxed);
  if (now_ns - last >= std::chrono::nanoseconds(kDropLogInterval).count() &&
      im.last_drop_log_ns.compare_exchange_strong(last, now_ns)) {
    try {
      logger()->warn(
          "telemetry ingest queue full or shut down: records are dropped (counted in "
          "ai_gateway_telemetry_dropped_total)");
    } catch (...) {
    }
  }
}

void Telemetry::observeUsageOnly(const RequestRecord& record) noexcept {
  Impl& im = *impl_;
  if (!im.accepting.load(std::memory_order_acquire) || !im.usage_observer) {
    Counter::addTo(im.ingest_dropped, 1);
    return;
  }
  try {
    const BuiltRecord built = im.builder->build(record, /*with_record=*/false);
    im.usage_observer(record, built.summary);
    built_.fetch_add(1, std::memory_order_release);
  } catch (...) {
    // Only allocation failure can get here.
    Counter::addTo(im.ingest_dropped, 1);
  }
}

void Telemetry::run() {
  Impl& im = *impl_;
  RequestRecord* raw = nullptr;
  // Polling instead of a wake-up per submit(): the request path never pays
  // a futex syscall. When the queue is empty the thread sleeps a fixed
  // 2 ms, so a record waits at most ~2 ms before it is built and an idle or
  // lightly loaded gateway pays ~500 wake-ups a second, not one per request.
  constexpr auto kIdlePause = std::chrono::milliseconds(2);
  for (;;) {
    bool any = false;
    while (im.ingest.pop(raw)) {
      im.ingest_bytes.fetch_sub(ingestFootprint(*raw), std::memory_order_relaxed);
      process(std::unique_ptr<RequestRecord>(raw));
      any = true;
    }
    if (im.stopping.load(std::memory_order_acquire)) {
      while (im.ingest.pop(raw)) {
        im.ingest_bytes.fetch_sub(ingestFootprint(*raw), std::memory_order_relaxed);
        process(std::unique_ptr<RequestRecord>(raw));
      }
      return;
    }
    if (any) continue;
    std::unique_lock lock(im.stop_mutex);
    im.stop_cv.wait_for(lock, kIdlePause, [&] { return im.stopping.load(std::memory_order_acquire); });
  }
}

void Telemetry::process(std::unique_ptr<RequestRecord> record) {
  Impl& im = *impl_;
  BuiltRecord built;
  try {
    // Metrics exporters alone need only the summary: no record JSON is
    // built or serialised for nobody.
    built = im.builder->build(*record, /*with_record=*/!im.workers.empty());
  } catch (const std::exception& e) {
    // Only allocation failure can get here; a record is worth less than the process.
    Counter::addTo(im.ingest_dropped, 1);
    logger()->error("building a record failed: {}", e.what());
    return;
  }
  if (record->usage_accounted && im.usage_observer) im.usage_observer(*record, built.summary);
  for (auto& observer : im.record_observers) observer(*record, built.summary, built.record);
  record.reset();  // free the bodies before fan-out
  updateMetrics(built.summary);
  // The footprint is computed once, and the record charged to the budget
  // once, however many queues take it. Without a record exporter only the
  // summary was built.
  if (built.record && !im.workers.empty()) {
    RecordOffer offer(std::move(built.record));
    for (auto& w : im.workers) w->offer(offer);
  }
  built_.fetch_add(1, std::memory_order_release);
}

void Telemetry::updateMetrics(const RecordSummary& s) {
  Impl& im = *impl_;
  im.model_series_key.assign(s.provider).append(1, '\xff').append(s.model);
  auto it = im.model_series.find(im.model_series_key);
  if (it == im.model_series.end()) {
    if (im.model_series.size() >= Impl::kMaxModelSeries) im.model_series.clear();
    it = im.model_series.emplace(im.model_series_key, Impl::ModelSeries{}).first;
  }
  Impl::ModelSeries& ms = it->second;
  // Binds on first use; the label values are only built then.
  auto series = [&](metrics_detail::Series*& slot, const auto& family, std::string_view third = {}) {
    if (!slot)
      slot =
          third.empty() ? family.bind({s.provider, s.model}) : family.bind({s.provider, s.model, std::string(third)});
    return slot;
  };

  metrics_detail::Series* requests = nullptr;
  for (auto& [status, series_ptr] : ms.requests_by_status)
    if (status == s.status_code) requests = series_ptr;
  if (!requests) {
    requests = im.requests.bind({s.provider, s.model, s.status_code > 0 ? std::to_string(s.status_code) : "0"});
    ms.requests_by_status.emplace_back(s.status_code, requests);
  }
  Counter::addTo(requests, 1);
  if (s.latency_s) im.duration.observeInto(series(ms.duration, im.duration), *s.latency_s);
  if (s.ttfb_s) im.ttfb.observeInto(series(ms.ttfb, im.ttfb), *s.ttfb_s);
  if (s.provider_latency_s)
    im.provider_latency.observeInto(series(ms.provider_latency, im.provider_latency), *s.provider_latency_s);
  if (s.latency_s && s.provider_latency_s)
    im.overhead.observeInto(series(ms.overhead, im.overhead), std::max(0.0, *s.latency_s - *s.provider_latency_s));
  if (s.input_tokens) Counter::addTo(series(ms.input_tokens, im.tokens, "input"), static_cast<double>(*s.input_tokens));
  if (s.output_tokens)
    Counter::addTo(series(ms.output_tokens, im.tokens, "output"), static_cast<double>(*s.output_tokens));
  // Parts of input and output, for cache hit rates and reasoning share; a
  // type absent from a provider's usage gets no series.
  if (s.cached_input_tokens)
    Counter::addTo(series(ms.cached_input_tokens, im.tokens, "cached_input"),
                   static_cast<double>(*s.cached_input_tokens));
  if (s.cache_creation_tokens)
    Counter::addTo(series(ms.cache_creation_tokens, im.tokens, "cache_creation"),
                   static_cast<double>(*s.cache_creation_tokens));
  if (s.reasoning_tokens)
    Counter::addTo(series(ms.reasoning_tokens, im.tokens, "reasoning"), static_cast<double>(*s.reasoning_tokens));
  if (s.cost) Counter::addTo(series(ms.cost, im.cost), *s.cost);
  auto& lookups = im.cost_lookups_by_status[static_cast<std::size_t>(s.cost_status)];
  if (!lookups) lookups = im.cost_lookups.bind({std::string(toString(s.cost_status))});
  Counter::addTo(lookups, 1);
  if (s.is_error) im.errors.add({s.provider, s.error_type});
  for (const auto& a : s.attempts) im.attempts.add({a.provider, a.model, a.outcome});
}

boost::json::object Telemetry::exporterHealth() const {
  boost::json::object out;
  for (const auto& w : impl_->workers) {
    const auto& st = w->stats();
    boost::json::object e;
    // The spool counts a record as it is written, and the worker publishes
    // its state after that: records in the spool mean degraded (or down)
    // even when this read comes between the two.
    const std::uint64_t spooled = w->spoolRecords();
    auto health = st.healthNow();
    if (spooled > 0 && health == ExporterStats::Health::kHealthy) health = ExporterStats::Health::kDegraded;
    e["state"] = ExporterStats::toString(health);
    e["breaker"] = CircuitBreaker::toString(st.breakerNow());
    e["queue_depth"] = st.queueDepthNow();
    e["spooled"] = spooled;
    e["dropped"] = st.droppedTotal();
    out[w->name()] = std::move(e);
  }
  for (const auto& p : impl_->pull_exporters) {
    boost::json::object e;
    e["state"] = "healthy";
    e["breaker"] = nullptr;  // scraped, never sent: no breaker
    e["queue_depth"] = 0;
    e["spooled"] = 0;
    e["dropped"] = 0;
    out[p->name()] = std::move(e);
  }
  return out;
}

std::optional<std::string> Telemetry::metricsText() const {
  if (!impl_->metrics_endpoint) return std::nullopt;
  return impl_->metrics_endpoint->render();
}

std::uint64_t Telemetry::recordsDropped() const {
  return static_cast<std::uint64_t>(impl_->ingest_dropped->value.load(std::memory_order_relaxed));
}

void Telemetry::shutdown(std::chrono::milliseconds budget) {
  Impl& im = *impl_;
  if (im.shut_down) return;
  im.shut_down = true;
  const auto deadline = Clock::steady().now() + budget;
  im.accepting.store(false, std::memory_order_release);
  {
    std::lock_guard lock(im.stop_mutex);
    im.stopping.store(true, std::memory_order_release);
  }
  im.stop_cv.notify_one();
  if (im.thread.joinable()) im.thread.join();
  // A submit() that passed the accepting check just before it was cleared.
  RequestRecord* raw = nullptr;
  while (im.ingest.pop(raw)) {
    im.ingest_bytes.fetch_sub(ingestFootprint(*raw), std::memory_order_relaxed);
    process(std::unique_ptr<RequestRecord>(raw));
  }
  // What waits for the spool is written before the workers drain (they
  // spool what they cannot deliver after it).
  im.spooler.stop();
  // Every worker drains in parallel against the same deadline.
  std::vector<std::thread> stoppers;
  for (auto& w : im.workers) stoppers.emplace_back([&w, deadline] { w->stop(deadline); });
  for (auto& t : stoppers) t.join();
  for (auto& p : im.pull_exporters) p->shutdown();
}

}  // namespace gw
