// The general path's fold of a chat chunk (StreamAssembler::foldTree, see
// stream_assembler.h): one parsed, scrubbed chunk, member by member.
#include "telemetry/stream_assembler.h"

#include <boost/json/array.hpp>

namespace gw {

namespace json = boost::json;

namespace {

void mergeToolCalls(json::array& into, const json::array& deltas) {
  for (const auto& d : deltas) {
    if (!d.is_object()) continue;
    const auto& dobj = d.as_object();
    std::int64_t index = static_cast<std::int64_t>(into.size());
    if (const auto* i = dobj.if_contains("index"); i && i->is_int64()) index = i->as_int64();
    json::object* target = nullptr;
    for (auto& existing : into)
      if (existing.is_object()) {
        const auto* ei = existing.as_object().if_contains("index");
        if (ei && ei->is_int64() && ei->as_int64() == index) target = &existing.as_object();
      }
    if (!target) {
      json::object fresh(into.storage());
      fresh["index"] = index;
      into.push_back(std::move(fresh));
      target = &into.back().as_object();
    }
    for (const auto& [key, value] : dobj) {
      if (key == "index") continue;
      if (key == "function" && value.is_object()) {
        auto& fn = (*target)["function"];
        if (!fn.is_object()) fn.emplace_object();
        for (const auto& [fk, fv] : value.as_object()) {
          auto& slot = fn.as_object()[fk];
          if (fk == "arguments" && fv.is_string() && slot.is_string())
            slot.as_string().append(fv.as_string());
          else if (!fv.is_null())
            slot = fv;
        }
      } else if (!value.is_null()) {
        (*target)[key] = value;
      }
    }
  }
}

}  // namespace

void StreamAssembler::foldTree(const json::object& chunk) {
  for (std::size_t k = 0; k < kTopLevelKeys.size(); ++k)
    if (const auto* v = chunk.if_contains(kTopLevelKeys[k]); v && !v->is_null()) setTopLevel(k, *v);
  if (const auto* u = chunk.if_contains("usage"); u && u->is_object()) usage_ = *u;
  if (const auto* x = chunk.if_contains("x_groq"); x && x->is_object())
    if (const auto* u = x->as_object().if_contains("usage"); u && u->is_object()) x_groq_usage_ = *u;
  const auto* cs = chunk.if_contains("choices");
  if (!cs || !cs->is_array()) return;
  for (const auto& c : cs->as_array()) {
    if (!c.is_object()) continue;
    const auto& co = c.as_object();
    std::int64_t index = 0;
    if (const auto* i = co.if_contains("index"); i && i->is_int64()) index = i->as_int64();
    json::object& choice = choiceAt(index);
    auto& delta = choice["delta"].as_object();
    if (const auto* d = co.if_contains("delta"); d && d->is_object()) {
      for (const auto& [key, value] : d->as_object()) {
        if (value.is_null()) continue;
        if (key == "content" && value.is_string()) {
          appendOrSet(delta["content"], value.as_string());
        } else if (key == "tool_calls" && value.is_array()) {
          auto& slot = delta["tool_calls"];
          if (!slot.is_array()) slot.emplace_array();
          mergeToolCalls(slot.as_array(), value.as_array());
        } else if (key == "role") {
          if (delta["role"].is_null()) delta["role"] = value;
        } else {
          delta[key] = value;
        }
      }
    }
    // Legacy completions streams carry "text" instead of a delta.
    if (const auto* t = co.if_contains("text"); t && t->is_string()) appendOrSet(choice["text"], t->as_string());
    if (const auto* f = co.if_contains("finish_reason"); f && !f->is_null()) choice["finish_reason"] = *f;
  }
}

}  // namespace gw
