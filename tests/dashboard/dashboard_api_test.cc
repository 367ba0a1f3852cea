// The dashboard's JSON API (src/dashboard/dashboard.h) on a fixed clock:
// answers, windows, paging, bad parameters and the admin key.
#include "dashboard/dashboard.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace gw::dashboard {
namespace {

namespace json = boost::json;
constexpr std::int64_t kNowMs = 1'700'000'000'000;

RequestRecord request(std::string id, std::string model, int status, std::int64_t ago_ms = 0) {
  RequestRecord r;
  r.id = std::move(id);
  r.model = model;
  r.provider = "openai";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.project_id = "proj";
  r.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(kNowMs - ago_ms - 200));
  r.received = std::chrono::steady_clock::time_point(std::chrono::seconds(10));
  r.finished = r.received + std::chrono::milliseconds(200);
  r.status_code = status;
  r.outcome = status >= 400 ? RequestOutcome::kError : RequestOutcome::kSuccess;
  return r;
}

RecordSummary summaryOf(const RequestRecord& r) {
  RecordSummary s;
  s.provider = r.provider;
  s.model = r.model;
  s.status_code = r.status_code;
  s.is_error = r.status_code >= 400;
  s.error_type = s.is_error ? "upstream_http_error" : "";
  s.latency_s = 0.2;
  s.ttfb_s = 0.05;
  s.input_tokens = 9;
  s.output_tokens = 2;
  s.cost = 0.5;
  return s;
}

struct Fixture : ::testing::Test {
  Dashboard board{DashboardOptions{}, [] { return kNowMs; }};

  void send(std::string id, std::string model, int status, std::int64_t ago_ms = 0, const RecordPtr& built = nullptr) {
    auto r = request(std::move(id), std::move(model), status, ago_ms);
    board.observe(r, summaryOf(r), built);
  }
  json::value get(std::string_view path, std::string_view query = {}, int want = 200) {
    ApiResponse a = board.handleApi("GET", path, query, "");
    EXPECT_EQ(a.status, want) << path << "?" << query << ": " << a.body;
    return json::parse(a.body);
  }
};

TEST_F(Fixture, SummaryOverEachWindow) {
  send("a", "gpt-4o", 200);
  send("b", "gpt-4o", 500);
  send("c", "gpt-4o-mini", 200, 20 * 60 * 1000);  // 20 minutes ago
  auto five = get("/ui/api/summary", "window=5m");
  EXPECT_EQ(five.at("totals").at("requests").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(five.at("totals").at("errors").to_number<std::uint64_t>(), 1u);
  EXPECT_DOUBLE_EQ(five.at("totals").at("error_rate").as_double(), 0.5);
  EXPECT_DOUBLE_EQ(five.at("totals").at("cost_usd").as_double(), 1.0);
  EXPECT_EQ(five.at("totals").at("tokens").at("total").to_number<std::uint64_t>(), 22u);
  const double p50 = five.at("totals").at("latency_ms").at("p50").as_double();
  EXPECT_GT(p50, 200 / 1.5);
  EXPECT_LT(p50, 200 * 1.5);
  auto hour = get("/ui/api/summary", "window=1h");
  EXPECT_EQ(hour.at("totals").at("requests").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(get("/ui/api/summary").at("window").as_string(), "1h");
}

TEST_F(Fixture, BreakdownSortedByCostOrErrors) {
  send("a", "m1", 200);
  send("b", "m2", 500);
  send("c", "m2", 500);
  send("d", "m3", 200);
  auto by_errors = get("/ui/api/breakdown", "dimension=model&sort=errors&window=5m");
  auto& rows = by_errors.at("data").as_array();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].at("value").as_string(), "m2");
  EXPECT_EQ(rows[0].at("errors").to_number<std::uint64_t>(), 2u);
  auto limited = get("/ui/api/breakdown", "dimension=project&limit=1");
  EXPECT_EQ(limited.at("data").as_array().size(), 1u);
  EXPECT_EQ(limited.at("data").as_array()[0].at("value").as_string(), "proj");
}

TEST_F(Fixture, TimeseriesTotalAndByDimension) {
  send("a", "m1", 200);
  send("b", "m2", 200, 90 * 1000);
  auto total = get("/ui/api/timeseries", "window=5m");
  EXPECT_EQ(total.at("step_s").as_int64(), 10);
  auto& points = total.at("series").as_array()[0].at("points").as_array();
  EXPECT_EQ(points.size(), 30u);
  std::uint64_t n = 0;
  for (auto& p : points) n += p.at("requests").to_number<std::uint64_t>();
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(points.back().at("requests").to_number<std::uint64_t>(), 1u);
  auto by_model = get("/ui/api/timeseries", "window=1h&dimension=model");
  EXPECT_EQ(by_model.at("series").as_array().size(), 2u);
  EXPECT_EQ(by_model.at("step_s").as_int64(), 60);
  auto day = get("/ui/api/timeseries", "window=24h&dimension=model&value=m1");
  EXPECT_EQ(day.at("step_s").as_int64(), 3600);
  EXPECT_EQ(get("/ui/api/timeseries", "window=24h").at("series").as_array()[0].at("points").as_array().size(), 288u);
  get("/ui/api/timeseries", "dimension=model&value=nope", 404);
}

TEST_F(Fixture, RecordsPagedFilteredAndById) {
  for (int i = 0; i < 5; ++i) send("r" + std::to_string(i), i % 2 ? "odd" : "even", i == 4 ? 502 : 200);
  auto page = get("/ui/api/records", "limit=2");
  auto& data = page.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].at("id").as_string(), "r4");
  EXPECT_EQ(data[0].at("status").as_string(), "error");
  const auto next = page.at("next_before").to_number<std::uint64_t>();
  auto page2 = get("/ui/api/records", "limit=2&before=" + std::to_string(next));
  EXPECT_EQ(page2.at("data").as_array()[0].at("id").as_string(), "r2");
  EXPECT_EQ(get("/ui/api/records", "model=odd").at("data").as_array().size(), 2u);
  EXPECT_EQ(get("/ui/api/records", "status=error").at("data").as_array().size(), 1u);
  EXPECT_EQ(get("/ui/api/records", "after=4").at("data").as_array().size(), 1u);
  EXPECT_EQ(get("/ui/api/records", "project=other").at("data").as_array().size(), 0u);

  auto one = get("/ui/api/records/r3");
  EXPECT_EQ(one.at("summary").at("model").as_string(), "odd");
  EXPECT_TRUE(one.at("record").is_null());
  get("/ui/api/records/unknown", {}, 404);
  send("a/<b>", "m", 200);  // ids are percent-encoded in the path; any byte may be in one
  EXPECT_EQ(get("/ui/api/records/a%2F%3Cb%3E").at("summary").at("id").as_string(), "a/<b>");

  auto built = std::make_shared<const TelemetryRecord>("with-body", R"({"attributes":{"request":{"x":"<script>"}}})",
                                                      RecordFields{});
  send("with-body", "m", 200, 0, built);
  auto full = get("/ui/api/records/with-body");
  EXPECT_EQ(full.at("record").at("attributes").at("request").at("x").as_string(), "<script>");
  EXPECT_TRUE(full.at("summary").at("has_record").as_bool());
}

TEST_F(Fixture, BadParametersAre400WithAMessage) {
  for (const char* q : {"window=2h", "window=", "nope=1", "window=5m&window=1h", "window=%zz"}) {
    auto e = get("/ui/api/summary", q, 400);
    EXPECT_FALSE(e.at("error").at("message").as_string().empty()) << q;
  }
  get("/ui/api/breakdown", "window=1h", 400);  // no dimension
  get("/ui/api/breakdown", "dimension=colour", 400);
  get("/ui/api/breakdown", "dimension=model&sort=name", 400);
  get("/ui/api/breakdown", "dimension=model&limit=0", 400);
  get("/ui/api/records", "limit=501", 400);
  get("/ui/api/records", "limit=-1", 400);
  get("/ui/api/records", "limit=1x", 400);
  get("/ui/api/records", "status=ok", 400);
  get("/ui/api/records", "before=99999999999999999999", 400);
  get("/ui/api/timeseries", "value=x", 400);
  get("/ui/api/records/a%2", {}, 400);
  get("/ui/api/unknown", {}, 404);
  EXPECT_EQ(board.handleApi("POST", "/ui/api/summary", "", "").status, 405);
}

TEST(DashboardAuth, AdminKeyGuardsTheApi) {
  DashboardOptions open;
  EXPECT_FALSE(Dashboard(open).refuse(""));
  DashboardOptions guarded;
  guarded.admin_key = "admin-secret";
  Dashboard board(guarded);
  EXPECT_FALSE(board.refuse("Bearer admin-secret"));
  for (const char* a : {"", "Bearer", "Bearer ", "Bearer admin-secreT", "Basic admin-secret", "admin-secret"}) {
    auto refusal = board.refuse(a);
    ASSERT_TRUE(refusal) << a;
    EXPECT_EQ(refusal->status, 401);
  }
  EXPECT_EQ(board.handleApi("GET", "/ui/api/summary", "", "Bearer nope").status, 401);
  EXPECT_EQ(board.handleApi("GET", "/ui/api/summary", "", "Bearer admin-secret").status, 200);
  ApiResponse auth = board.handleApi("GET", "/ui/api/auth", "", "Bearer nope");
  EXPECT_EQ(auth.status, 200);
  EXPECT_EQ(auth.body, R"({"admin_key_required":true,"authorized":false})");
  EXPECT_EQ(board.handleApi("GET", "/ui/api/auth", "", "Bearer admin-secret").body,
            R"({"admin_key_required":true,"authorized":true})");
}

TEST(DashboardPage, IsEmbedded) {
  std::string_view page = Dashboard::page();
  EXPECT_TRUE(page.starts_with("<!doctype html>")) << page.substr(0, 40);
  EXPECT_NE(page.find("</html>"), std::string_view::npos);
}

}  // namespace
}  // namespace gw::dashboard
