// Folds the chunks of an OpenAI-shaped stream (chat.completion.chunk, or a
// legacy completions stream), in order, into the assembled response of the
// request record, and says what stands for each chunk in the record's
// `streamed_data` (docs/records.md, "Streams").
//
// Why it does not parse each chunk into a tree and walk it: for a stream,
// that would cost more than relaying the stream. A typical chunk carries
// one content delta in ~200 bytes of JSON; on the fast path
// (stream_assembler_fast.cc) it costs one pass of Boost.JSON's SAX parser
// (basic_parser) that validates it, checks every key (duplicates; secret
// names, for the keys it has no use for: the ones it reads are none) and
// picks out what the assembly needs, and its own text is then copied into
// streamed_data as is. The fast path also reads a usage object (the last
// chunk of nearly every stream) into the one small tree it builds. Only a
// chunk that does anything else (tool calls, an error, a secret to scrub, a
// duplicate key, a line break to remove, unknown delta members) takes the
// general path: parse it into a tree, scrub it, fold it member by member
// (stream_assembler_tree.cc), serialise it again. Both paths give the same
// result; the unit tests and fuzz_stream_assembly check that on every
// input.
//
// The template path, before the fast path: the chunks of a chat stream are
// mostly the same bytes but for a few strings: the text of the content
// delta, and top-level strings nothing reads (OpenAI's "obfuscation"
// padding). A chunk the fast path accepted whose one choice's delta has a
// content string becomes the template; those strings (written without
// escapes) are its variable spans. A later chunk made of the template's
// other bytes, in order, with one JSON string literal in each span's place
// (each read by the same parser as the fast path's, which also finds where
// it ends) is valid JSON, has the template's keys (no secret, no
// duplicate), members and other values, and folds as the template did with
// its own content: every member the template set (top-level members, role,
// finish reason) is already set to the same value, so only its content is
// appended, straight into the assembled choice. So it costs a memcmp per
// fixed part and the parse of its strings, not a pass over every key. Any
// other chunk ends the template (the next one the fast path accepts may
// start one), so that what a template chunk leaves unchanged is still what
// its template set.
//
// A Responses API stream (ResponseApi::kResponses) is not folded: its
// chunks are the data of its events, and the assembled response is the
// "response" object of its terminal event (response.completed, .incomplete
// or .failed), else of the last event that carried one. Both paths only
// note which event that is (the fast path also reads each event's "type");
// finish() parses that one event. streamed_data entries follow the same
// rules as for chat chunks.
//
// An Anthropic Messages stream (ResponseApi::kMessages) is folded event by
// event into the message it builds (stream_assembler_messages.cc), on the
// general path only.
//
// Runs on the telemetry thread; one assembler per record, not thread-safe.
#pragma once

#include "gw/provider.h"

#include <boost/json/basic_parser.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

class StreamAssembler {
 public:
  // The assembled response is built in `sp`'s memory. With `general_path_only`
  // every chunk takes the general path (the reference the tests compare with).
  // Without `templates` no chunk takes the template path (the reference for
  // its byte-for-byte checks).
  explicit StreamAssembler(boost::json::storage_ptr sp = {}, bool general_path_only = false,
                           ResponseApi api = ResponseApi::kChatCompletions, bool templates = true);
  ~StreamAssembler();
  StreamAssembler(const StreamAssembler&) = delete;
  StreamAssembler& operator=(const StreamAssembler&) = delete;

  // Folds one chunk (the data of one SSE event) into the response. When
  // `streamed_entry` is not null, appends to it the JSON text that stands
  // for the chunk in streamed_data: the chunk's own text when it is JSON on
  // one line with nothing to scrub, else its tree scrubbed and serialised
  // again, or a JSON string of the (secret-scrubbed) text when it is not
  // JSON at all.
  void add(std::string_view chunk, std::string* streamed_entry);

  // error.type (else error.code) of the first chunk that was an error object.
  // Messages API: error.type of the first "error" event.
  // Responses API: the "code" of the first "error" event (else its
  // error.type / error.code, else "stream_error"); without one, the
  // response.error.code of a response.failed terminal event (else
  // "response_failed"). Complete only after finish().
  const std::optional<std::string>& errorType() const { return error_type_; }

  // The assembled response: id, object, created, model (and
  // system_fingerprint when a chunk had one), choices in index order,
  // usage (the last top-level usage object, else Groq's x_groq.usage).
  // Responses API: the final "response" object (scrubbed), or an
  // empty object when no event carried one. Call once, after the last add().
  boost::json::object finish();

  // How many chunks took the fast path, the template path included, and the
  // template path alone (for tests and benchmarks).
  std::uint64_t fastChunks() const { return fast_chunks_; }
  std::uint64_t templateChunks() const { return template_chunks_; }

 private:
  // The top-level members of the assembled response, in the record's order
  // (top_level_ holds their values).
  static constexpr std::array<std::string_view, 5> kTopLevelKeys = {"id", "object", "created", "model",
                                                                    "system_fingerprint"};

  class FastPass;
  friend class FastPass;
  class LiteralPass;

  // A variable span of a template: the offsets of a string's opening and
  // closing quotes, and whether it is the content delta's.
  struct TemplateSpan {
    std::size_t open = 0, close = 0;
    bool content = false;
  };

  // The template path: true when the chunk was accepted and folded.
  bool foldLikeTemplate(std::string_view chunk);

  // The fast path: true when the chunk was accepted and folded.
  bool foldFast(std::string_view chunk);
  // The general path's fold of one parsed, scrubbed chunk
  // (stream_assembler_tree.cc).
  void foldTree(const boost::json::object& chunk);
  // Appends `text` to a string slot, else makes the slot that string.
  static void appendOrSet(boost::json::value& slot, std::string_view text);
  boost::json::object& choiceAt(std::int64_t index);
  // Responses API (stream_assembler_responses.cc): an event of this type
  // was accepted; `has_response` when its "response" member is an object.
  void noteResponsesEvent(std::string_view chunk, std::string_view type, bool has_response);
  // The same for an event the general path parsed (a JSON object); also
  // takes the error type of an "error" event.
  void noteResponsesTree(std::string_view chunk, const boost::json::value& parsed);
  boost::json::object finishResponses();
  // Messages API (stream_assembler_messages.cc): one parsed, scrubbed event.
  void foldMessagesEvent(const boost::json::object& event);
  void finishToolInput(std::int64_t index);
  boost::json::object finishMessages();
  void setTopLevel(std::size_t k, const boost::json::value& v);

  boost::json::storage_ptr sp_;
  bool general_path_only_;
  ResponseApi api_;
  std::array<boost::json::value, 5> top_level_;  // id, object, created, model, system_fingerprint
  std::map<std::int64_t, boost::json::object> choices_;
  boost::json::value usage_;
  boost::json::value x_groq_usage_;  // Groq's "x_groq":{"usage":{...}}, the last one
  std::optional<std::string> error_type_;
  std::uint64_t fast_chunks_ = 0;
  // Responses API: the text of the event whose "response" is the final one,
  // its type, and whether it was a terminal event.
  std::string response_event_;
  std::string response_event_type_;
  bool terminal_seen_ = false;
  // Messages API: the message so far, its content blocks by index, and the
  // partial JSON of tool inputs not yet complete.
  boost::json::object message_;
  std::map<std::int64_t, boost::json::object> blocks_;
  std::map<std::int64_t, std::string> partial_json_;
  // The fast path's parser, made at its first chunk and reused from chunk
  // to chunk; FastPass is complete only in stream_assembler_fast.cc, which
  // deletes it.
  struct FastParserDelete {
    void operator()(boost::json::basic_parser<FastPass>* p) const;
  };
  std::unique_ptr<boost::json::basic_parser<FastPass>, FastParserDelete> fast_;
  // The template (empty: none): its text, its variable spans in order, and
  // the content of its choice in the assembled response (choices_ keeps
  // it in place while only template chunks come: they change no member).
  bool templates_;
  std::uint64_t template_chunks_ = 0;
  std::string template_;
  std::vector<TemplateSpan> template_spans_;
  boost::json::string* template_content_ = nullptr;
  // Parses a template chunk's content; LiteralPass is complete only in
  // stream_assembler_template.cc, which deletes it.
  struct LiteralParserDelete {
    void operator()(boost::json::basic_parser<LiteralPass>* p) const;
  };
  std::unique_ptr<boost::json::basic_parser<LiteralPass>, LiteralParserDelete> literal_;
};

}  // namespace gw
