// Drives the gateway's native Messages API with the official Anthropic SDK,
// as Claude Code and other Anthropic clients do (ANTHROPIC_BASE_URL pointed
// at the gateway). Prints one JSON line of observations;
// test_anthropic_sdk.py asserts on it.
import Anthropic from "@anthropic-ai/sdk";

const [port] = process.argv.slice(2);
const client = new Anthropic({ baseURL: `http://127.0.0.1:${port}`, apiKey: "sk-ant-sdk-test", maxRetries: 0 });
const out = {};
const ask = { max_tokens: 64, messages: [{ role: "user", content: "Say OK" }] };

// Each call below that is billed names its request id, which finds its
// record; the usage and the model the SDK saw are printed whole, to compare
// with the record's tokens and cost.
const m = await client.messages.create({ model: "native-cache", ...ask },
                                       { headers: { "x-request-id": "sdk-create" } });
out.nonstream = { text: m.content[0].text, input: m.usage.input_tokens, output: m.usage.output_tokens, id: m.id };
out.nonstream_usage = { usage: m.usage, model: m.model };

// The stream helper accumulates the events into the final message.
const s = client.messages.stream({ model: "native-cache", ...ask }, { headers: { "x-request-id": "sdk-stream" } });
const events = [];
s.on("streamEvent", (e) => events.push(e.type));
const fm = await s.finalMessage();
out.stream = {
  events: events.length, first: events[0], last: events[events.length - 1],
  blocks: fm.content.length, text: fm.content[fm.content.length - 1].text,
  usage: { input: fm.usage.input_tokens, output: fm.usage.output_tokens,
           cache_read: fm.usage.cache_read_input_tokens, cache_creation: fm.usage.cache_creation_input_tokens },
};
out.stream_usage = { usage: fm.usage, model: fm.model };

// messages.create with stream: true, read to its end: the usage of message_start, then of message_delta.
const created = await client.messages.create({ model: "native-cache", ...ask, stream: true },
                                             { headers: { "x-request-id": "sdk-create-stream" } });
let createdUsage = null, createdModel = null;
for await (const e of created) {
  if (e.type === "message_start") { createdUsage = { ...e.message.usage }; createdModel = e.message.model; }
  if (e.type === "message_delta") for (const [k, v] of Object.entries(e.usage)) if (v !== null) createdUsage[k] = v;
}
out.create_stream_usage = { usage: createdUsage, model: createdModel };

// A raw stream of events (stream: true), iterated.
const raw = await client.messages.create({ model: "native-text", ...ask, stream: true });
let text = "";
for await (const e of raw) if (e.type === "content_block_delta" && e.delta.type === "text_delta") text += e.delta.text;
out.raw_stream = text.length;

const count = await client.messages.countTokens({ model: "native-cache", messages: ask.messages });
out.count = count.input_tokens;

// The beta surface.
const beta = await client.beta.messages.create({ model: "native-text", ...ask });
out.beta = beta.content.length > 0;

// The upstream's error, relayed in Anthropic's shape.
try { await client.messages.create({ model: "native-overload", ...ask }); out.upstream_error = "none"; }
catch (e) { out.upstream_error = { status: e.status, type: e.error?.error?.type ?? null, request_id: e.requestID ?? null }; }

// The gateway's own error (max_tokens missing), in Anthropic's shape.
try { await client.messages.create({ model: "native-cache", messages: ask.messages }); out.gateway_error = "none"; }
catch (e) {
  out.gateway_error = { status: e.status, class: e.constructor.name, type: e.error?.error?.type ?? null,
                        message: e.error?.error?.message ?? null };
}

// The upstream breaks mid-stream: the gateway's final error event ends it.
try {
  const broken = await client.messages.create({ model: "native-reset", ...ask, stream: true });
  for await (const e of broken) { /* until the error event */ }
  out.midstream = "no error";
} catch (e) { out.midstream = { class: e.constructor.name, type: e.error?.error?.type ?? e.error?.type ?? null }; }

console.log(JSON.stringify(out));
