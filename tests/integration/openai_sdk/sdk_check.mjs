// Drives the gateway with the official OpenAI SDK, as users do. Prints one
// JSON line of observations; test_openai_sdk.py asserts on it.
import OpenAI from "openai";

const [port] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "sk-sdk-test", maxRetries: 0 });
const out = {};

const r = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
out.nonstream = { content: r.choices[0].message.content.length > 0, total: r.usage.total_tokens };

const s = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], stream: true });
let text = "", chunks = 0, usage = null;
for await (const c of s) { chunks++; if (c.usage) usage = c.usage; text += c.choices[0]?.delta?.content ?? ""; }
out.stream = { chunks, length: text.length, usage };

const su = await client.chat.completions.create({ model: "gpt-4o", messages: [], stream: true, stream_options: { include_usage: true } });
let lastUsage = null;
for await (const c of su) if (c.usage) lastUsage = c.usage;
out.stream_usage = lastUsage?.total_tokens ?? null;

const a = await client.chat.completions.create(
  { model: "claude-sonnet-4-5", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } },
  { headers: { "x-provider": "anthropic" } });
let at = "", au = null;
for await (const c of a) { if (c.usage) au = c.usage; at += c.choices[0]?.delta?.content ?? ""; }
out.anthropic = { length: at.length, total: au?.total_tokens ?? null };

try { await client.chat.completions.create({ model: "error-429", messages: [] }); out.error = "none"; }
catch (e) { out.error = { status: e.status, code: e.error?.code ?? e.code, request_id: !!e.headers?.["x-request-id"] }; }

try {
  const broken = await client.chat.completions.create({ model: "reset-mid-stream", messages: [], stream: true });
  for await (const c of broken) { /* the error event ends the stream */ }
  out.midstream = "no error";
} catch (e) { out.midstream = e.constructor.name; }

// The Responses API (what the Agents SDK and Codex speak), not streamed and streamed.
// Each call names its request id, which finds its record; the usage and the
// model the SDK saw are printed whole, to compare with the record's tokens and cost.
const resp = await client.responses.create({ model: "gpt-4o-mini-2024-07-18", input: "Say OK" },
                                           { headers: { "x-request-id": "sdk-responses" } });
out.responses = { text: resp.output_text, input: resp.usage.input_tokens, output: resp.usage.output_tokens,
                  usage: resp.usage, model: resp.model };
const rs = await client.responses.create({ model: "gpt-4o-mini-2024-07-18", input: "Say OK", stream: true },
                                         { headers: { "x-request-id": "sdk-responses-stream" } });
const rtypes = [];
let completed = null;
for await (const e of rs) { rtypes.push(e.type); if (e.type === "response.completed") completed = e.response; }
out.responses_stream = { events: rtypes.length, first: rtypes[0], last: rtypes[rtypes.length - 1],
                         text: completed?.output_text ?? completed?.output?.[0]?.content?.[0]?.text ?? null,
                         total: completed?.usage?.total_tokens ?? null,
                         usage: completed?.usage ?? null, model: completed?.model ?? null };

// The same keep-alive connections must still work after all of the above.
const models = await client.models.list();
out.models = models.data.length;
console.log(JSON.stringify(out));
