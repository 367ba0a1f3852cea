// The dashboard (/ui) in a real browser: Debian's chromium, headless, driven
// by puppeteer-core. Run by test_dashboard_browser.py, which starts the
// gateway (with GATEWAY_ADMIN_KEY) and the mock upstream and passes one JSON
// argument: {gateway, adminKey, providerKey, chromium, shots}.
//
// Checks, in order: the login form (a wrong key refused, the right one
// accepted); the empty overview; traffic sent through the gateway while the
// page is open updates the counters and charts; the breakdown sorts by
// errors; the live tail shows a new request within seconds and filters; a
// record opens with its request, response and chunks; exporters and keys;
// "<script>" in model names, bodies and headers shows as text; a slow and a
// down API are said so. Any console error (outside the down-API step's own
// failed loads) fails the test. Screenshots of each view go to `shots`.
// Prints "OK" and exits 0, or prints the failure and exits 1.
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(process.argv[2]);
const base = cfg.gateway;
const XSS = {
  model: "<script>window.__xss='model'</script>",
  project: "<img src=x onerror=\"window.__xss='project'\">",
  user: "<script>window.__xss='user'</script>",
  content: "<script>window.__xss='body'</script><b>bold?</b>",
  requestId: "xss-<i>id</i>",
};

const consoleErrors = [];
let allowFailedLoads = false;
let step = "start";

function fail(message) {
  throw new Error(`[${step}] ${message}`);
}

async function chat(model, { stream = false, headers = {}, content = "Hi" } = {}) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${cfg.providerKey}`, ...headers },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(cfg.shots, `${name}.png`), fullPage: true });
}

async function text(page, selector) {
  return page.$eval(selector, (n) => n.textContent);
}

async function visible(page, selector) {
  return page.$eval(selector, (n) => !n.classList.contains("hidden") && n.offsetParent !== null);
}

async function nav(page, view) {
  await page.click(`#nav button[data-view="${view}"]`);
  await page.waitForFunction((v) => !document.getElementById(`view-${v}`).classList.contains("hidden"), {}, view);
}

async function main() {
  fs.mkdirSync(cfg.shots, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    userDataDir: fs.mkdtempSync(path.join(cfg.shots, "..", "profile-")),
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  let page;
  try {
    page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 900 });
    page.setDefaultTimeout(15000);
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      if (allowFailedLoads && msg.text().startsWith("Failed to load resource")) return;
      consoleErrors.push(`[${step}] ${msg.text()}`);
    });
    page.on("pageerror", (err) => consoleErrors.push(`[${step}] page error: ${err.message}`));

    step = "login";
    await page.goto(`${base}/ui`, { waitUntil: "load" });
    await page.waitForSelector("#login:not(.hidden)");
    if (await visible(page, "#view-overview")) fail("the overview shows before logging in");
    await shot(page, "login");
    await page.type("#login-key", "not-the-key");
    await page.click("#login-form button");
    await page.waitForFunction(() => document.getElementById("login-error").textContent.includes("refused"));
    if (!(await visible(page, "#login"))) fail("a wrong key was let in");
    await page.type("#login-key", cfg.adminKey);
    await page.click("#login-form button");
    await page.waitForSelector("#view-overview:not(.hidden)");
    await page.waitForSelector("#stat-requests");
    const stored = await page.evaluate(() => [sessionStorage.getItem("magicapi.adminKey"), localStorage.length, document.cookie]);
    if (stored[0] !== cfg.adminKey || stored[1] !== 0 || stored[2] !== "") fail(`the key is kept elsewhere than sessionStorage: ${stored}`);

    step = "empty overview";
    await page.waitForSelector("#overview-empty:not(.hidden)");
    if (!(await text(page, "#overview-empty")).includes("No requests")) fail("no empty state");
    await shot(page, "overview-empty");

    step = "traffic";
    for (let i = 0; i < 4; i++) if ((await chat("gpt-4o", { headers: { "x-project-id": "proj-a" } })) !== 200) fail("chat failed");
    if ((await chat("gpt-4o", { stream: true, headers: { "x-request-id": "stream-1", "x-project-id": "proj-b" } })) !== 200) fail("stream failed");
    if ((await chat("error-429", { headers: { "x-request-id": "err-1" } })) !== 429) fail("error-429 not 429");
    const status = await chat(XSS.model, {
      content: XSS.content,
      headers: { "x-request-id": XSS.requestId, "x-project-id": XSS.project, "x-user-id": XSS.user },
    });
    if (status !== 200) fail(`the hostile request got ${status}`);

    step = "overview updates";
    await page.waitForFunction(() => {
      const v = document.querySelector("#stat-requests .value");
      return v && Number(v.textContent.replace(/[^0-9]/g, "")) >= 7;
    }, { timeout: 20000 });
    await page.waitForFunction(() => {
      const p = document.querySelector("#chart-requests path.series");
      return p && Number(p.dataset.points) > 0;
    });
    for (const id of ["requests", "errors", "cost", "latency", "ttfb"])
      if (!(await page.$(`#chart-${id} svg`))) fail(`chart ${id} missing`);
    if (!(await page.$("#chart-latency path.series"))) fail("no latency line");
    if ((await text(page, "#stat-errors .value")).trim() !== "1") fail("errors card is not 1");
    if (!/\$/.test(await text(page, "#stat-cost .value"))) fail("cost without a unit");
    if (!/ms|s$/.test((await text(page, "#stat-latency .value")).trim())) fail("latency without a unit");
    if (await visible(page, "#overview-empty")) fail("the empty state stays after traffic");
    await shot(page, "overview");

    step = "breakdown";
    await nav(page, "breakdown");
    await page.click('#dim-seg button[data-dim="model"]');
    await page.waitForFunction((m) => [...document.querySelectorAll("#breakdown-body td")].some((td) => td.textContent === m), {}, XSS.model);
    await page.click('#breakdown-table th[data-sort="errors"]');
    await page.waitForFunction(() => {
      const first = document.querySelector("#breakdown-body tr td");
      return first && first.textContent === "error-429";
    });
    await shot(page, "breakdown");
    await page.click('#dim-seg button[data-dim="project"]');
    await page.waitForFunction((p) => [...document.querySelectorAll("#breakdown-body td")].some((td) => td.textContent === p), {}, XSS.project);

    step = "live tail";
    await nav(page, "tail");
    await page.waitForSelector("#tail-body tr");
    await chat("gpt-4o", { headers: { "x-request-id": "live-1" } });
    await page.waitForSelector('#tail-body tr[data-id="live-1"]', { timeout: 5000 });
    await page.type("#f-model", "error-429");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#tail-body tr")];
      return rows.length === 1 && rows[0].dataset.id === "err-1";
    });
    await shot(page, "tail-filtered");
    await page.click("#f-clear");
    await page.select("#f-status", "error");
    await page.waitForFunction(() => [...document.querySelectorAll("#tail-body tr")].every((r) => r.dataset.id === "err-1"));
    await page.click("#f-clear");
    await page.waitForFunction((id) => !!document.querySelector(`#tail-body tr[data-id="${CSS.escape(id)}"]`), {}, XSS.requestId);
    await shot(page, "tail");

    step = "record view";
    await page.evaluate((id) => document.querySelector(`#tail-body tr[data-id="${CSS.escape(id)}"]`).click(), XSS.requestId);
    await page.waitForSelector("#record-view:not(.hidden) #record-request");
    const req = await text(page, "#record-request");
    if (!req.includes(XSS.content.replace(/"/g, '\\"'))) fail(`the request body is not shown as text: ${req.slice(0, 200)}`);
    if (!(await text(page, "#record-summary")).includes(XSS.user)) fail("the user header is not shown as text");
    if ((await text(page, "#record-title")).indexOf(XSS.requestId) < 0) fail("the id is not shown as text");
    await shot(page, "record");
    await page.click("#record-close");
    await page.evaluate(() => document.querySelector('#tail-body tr[data-id="stream-1"]').click());
    await page.waitForSelector("#record-view:not(.hidden) #record-chunks");
    if (!(await text(page, "#record-chunks")).includes("#1 ")) fail("no streamed chunks");
    if (!(await text(page, "#record-timings")).includes("ms")) fail("no timings");
    await shot(page, "record-stream");
    await page.click("#record-close");

    step = "exporters";
    await nav(page, "exporters");
    await page.waitForFunction(() => [...document.querySelectorAll("#exporters-body td")].some((td) => td.textContent === "console"));
    if (!(await text(page, "#exporters-body")).includes("closed")) fail("no circuit breaker state");
    await shot(page, "exporters");

    step = "keys";
    await nav(page, "keys");
    await page.waitForFunction(() => [...document.querySelectorAll("#keys-body td")].some((td) => td.textContent === "team-browser"));
    await page.waitForFunction(() => [...document.querySelectorAll("#budgets-body td")].some((td) => td.textContent === "alice"));
    await shot(page, "keys");

    step = "no xss";
    const dom = await page.evaluate(() => ({
      xss: window.__xss,
      scripts: document.scripts.length,
      imgs: document.images.length,
      bold: document.querySelectorAll("main b, #record-view b").length,
    }));
    if (dom.xss !== undefined || dom.scripts !== 1 || dom.imgs !== 0)
      fail(`record contents became markup: ${JSON.stringify(dom)}`);

    step = "slow API";
    await nav(page, "overview");
    await page.setRequestInterception(true);
    let mode = "slow";
    page.on("request", (r) => {
      if (!r.url().includes("/ui/api/")) return r.continue();
      if (mode === "slow") setTimeout(() => r.continue().catch(() => {}), 2600);
      else r.abort("connectionrefused").catch(() => {});
    });
    await page.waitForFunction(() => document.getElementById("api-status").textContent.includes("slow"), { timeout: 20000 });
    await shot(page, "api-slow");

    step = "API down";
    allowFailedLoads = true;
    mode = "down";
    await page.waitForFunction(() => document.getElementById("api-status").textContent.includes("unreachable"), { timeout: 20000 });
    await shot(page, "api-down");

    step = "console";
    if (consoleErrors.length) fail(`console errors:\n${consoleErrors.join("\n")}`);
    console.log("OK");
  } catch (e) {
    if (page) await shot(page, "failure").catch(() => {});
    if (consoleErrors.length) e.message += `\nconsole errors so far:\n${consoleErrors.join("\n")}`;
    throw e;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
