// The cost of recording a request.
//
// - BM_Submit: what the request path pays in Telemetry::submit() (ns per
//   record, heap allocations per record counted by a replaced operator new on
//   the submitting thread). The RequestRecord itself is prepared outside the
//   timed region: the request path fills it as it goes.
// - BM_BuildRecord*: what the telemetry thread pays to turn a RequestRecord
//   into the record of docs/records.md (JSON, scrubbing, cost), per record.
// - BM_MetricsUpdate: one labelled counter add + histogram observation.
#include "telemetry/record_builder.h"
#include "telemetry/telemetry.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

namespace {

// Counting allocator: only counts while `t_counting` is set on this thread.
thread_local bool t_counting = false;
thread_local std::uint64_t t_allocations = 0;

}  // namespace

void* operator new(std::size_t n) {
  if (t_counting) ++t_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace gw {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const PricingTable> pricing() {
  static auto table = [] {
    auto t = PricingTable::load(std::string(GW_SOURCE_DIR) + "/data/model_prices_and_context_window.json");
    return t ? std::make_shared<const PricingTable>(std::move(*t)) : nullptr;
  }();
  return table;
}

std::unique_ptr<RequestRecord> sampleRecord(int i, bool stream) {
  auto r = std::make_unique<RequestRecord>();
  r->id = "bench-" + std::to_string(i);
  r->provider = "openai";
  r->model = "gpt-4o";
  r->method = "POST";
  r->path = "/v1/chat/completions";
  r->project_id = "project-1";
  r->wall_start = std::chrono::system_clock::now();
  r->received = std::chrono::steady_clock::now();
  r->upstream_sent = r->received + 1ms;
  r->first_byte_sent = r->received + 50ms;
  r->upstream_finished = r->received + 300ms;
  r->finished = r->received + 301ms;
  r->status_code = 200;
  r->provider_status_code = 200;
  r->request_body = R"({"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},)"
                    R"({"role":"user","content":")" + std::string(600, 'x') + R"("}],"temperature":0.2})";
  r->request_size = r->request_body.size();
  if (stream) {
    r->streamed = true;
    for (int c = 0; c < 50; ++c)
      r->observation.chunks.push_back(
          R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06",)"
          R"("choices":[{"index":0,"delta":{"content":"token )" + std::to_string(c) + R"("},"finish_reason":null}]})");
    r->observation.usage.input = 150;
    r->observation.usage.output = 50;
  } else {
    r->response_body = R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[)"
                       R"({"index":0,"message":{"role":"assistant","content":")" + std::string(400, 'y') +
                       R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":150,"completion_tokens":50,"total_tokens":200}})";
  }
  r->response_size = r->response_body.size();
  return r;
}

// Accepts every batch: a telemetry pipeline with one record consumer, so
// that the telemetry thread runs and builds records (with no exporter at
// all the request path discards records at once and nothing is measured).
class DiscardExporter final : public Exporter {
 public:
  std::string_view name() const override { return "discard"; }
  ExportResult exportBatch(std::span<const RecordPtr>) override { return ExportResult::success(); }
};

void BM_Submit(benchmark::State& state) {
  Settings settings;
  settings.enabled_exporters = {"discard"};  // what the request path pays does not depend on the exporter
  ExporterRegistry registry;
  registry.add("discard", [](const ExporterContext&) -> Result<std::unique_ptr<Exporter>> {
    return std::unique_ptr<Exporter>(std::make_unique<DiscardExporter>());
  });
  ConfigSource config({{"TELEMETRY_SPOOL_MAX_BYTES", "0"}}, {});
  auto telemetry = Telemetry::start(settings, config, registry, pricing());
  if (!telemetry) {
    state.SkipWithError(telemetry.error().message.c_str());
    return;
  }
  constexpr int kChunk = 256;
  std::vector<std::unique_ptr<RequestRecord>> records(kChunk);
  std::uint64_t submitted = 0, allocations = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < kChunk; ++i) records[static_cast<std::size_t>(i)] = sampleRecord(i, false);
    // Let the telemetry thread catch up whenever it is more than a few
    // chunks behind, so that the ingest queue never fills (the drop path is
    // not what is measured here). Not after every chunk: the thread sleeps
    // 2 ms when it finds its queue empty, and waiting for it each time made
    // a run last many minutes.
    while ((*telemetry)->recordsBuilt() + (*telemetry)->recordsDropped() + 8 * kChunk < submitted)
      std::this_thread::yield();
    state.ResumeTiming();
    t_allocations = 0;
    t_counting = true;
    for (auto& r : records) (*telemetry)->submit(std::move(r));
    t_counting = false;
    allocations += t_allocations;
    submitted += kChunk;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(submitted));
  state.counters["ns_per_submit"] =
      benchmark::Counter(static_cast<double>(submitted), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["allocs_per_submit"] = static_cast<double>(allocations) / static_cast<double>(std::max<std::uint64_t>(1, submitted));
  state.counters["dropped"] = static_cast<double>((*telemetry)->recordsDropped());
  (*telemetry)->shutdown(1s);
}
BENCHMARK(BM_Submit)->UseRealTime()->Iterations(2000);

void buildBench(benchmark::State& state, bool stream) {
  RecordBuilder builder(RecordBuilderOptions{}, pricing());
  auto record = sampleRecord(1, stream);
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    auto built = builder.build(*record);
    bytes += built.record->serialized.size();
    benchmark::DoNotOptimize(built);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
void BM_BuildRecordNonStream(benchmark::State& state) { buildBench(state, false); }
void BM_BuildRecordStream50Chunks(benchmark::State& state) { buildBench(state, true); }
BENCHMARK(BM_BuildRecordNonStream);
BENCHMARK(BM_BuildRecordStream50Chunks);

void BM_MetricsUpdate(benchmark::State& state) {
  MetricsRegistry m;
  auto c = m.counter("c_total", "h", "1", {"provider", "model", "status_code"});
  auto h = m.histogram("h_seconds", "h", "s", {"provider", "model"}, MetricsRegistry::durationBuckets());
  for (auto _ : state) {
    c.add({"openai", "gpt-4o", "200"});
    h.observe({"openai", "gpt-4o"}, 0.3);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsUpdate);

}  // namespace
}  // namespace gw

BENCHMARK_MAIN();
