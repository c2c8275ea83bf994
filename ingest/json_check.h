// JSON checks shared by the parsers (ingest/platforms/flussonic.cc, ingest/body_items.cc and the
// platform adapters): simdjson On-Demand only checks what it is asked for,
// so these walk a value completely, and describe errors in words a sender
// can act on.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/status.h"

namespace sink::json {

// Nesting accepted inside one item. Events are flat; the bound keeps the
// validating walk's recursion (and simdjson's own depth limit) far away.
inline constexpr int kMaxDepth = 1000;

// Blanks between JSON values: space, tab, CR, LF.
inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// `s` without trailing blanks (space, tab, CR, LF).
std::string_view TrimRight(std::string_view s);
// `s` without leading blanks.
std::string_view TrimLeft(std::string_view s);

// Inputs above this size get an On-Demand parser of their own, freed
// afterwards, so that a rare huge body does not leave every worker thread
// holding a huge buffer.
inline constexpr size_t kKeepParserBelow = 4u << 20;
// The On-Demand parser for a whole body of `size` bytes (whose items are
// then parsed with ItemParserFor while it iterates): the calling thread's
// own, or a new one kept in *big when `size` >= kKeepParserBelow.
simdjson::ondemand::parser& BodyParserFor(size_t size,
                                          std::unique_ptr<simdjson::ondemand::parser>* big);
// The same for one item (a second parser per thread, so that an item can
// be parsed while its body's array is being iterated).
simdjson::ondemand::parser& ItemParserFor(size_t size,
                                          std::unique_ptr<simdjson::ondemand::parser>* big);

// A finite double from the whole number text; nullopt when it is not a
// number or overflows (underflow gives 0).
std::optional<double> DoubleFromText(std::string_view s);
// The text of a string (unescaped) or a number (its JSON spelling, which
// must be a valid JSON number). REQUIRES: `t` is string or number, the type
// of `v`.
simdjson::error_code ScalarText(simdjson::ondemand::value& v, simdjson::ondemand::json_type t,
                                std::string_view* text);

// The JSON number grammar (RFC 8259 §6). simdjson refuses to convert some
// valid numbers (1e400, 30-digit integers); they are still valid JSON.
bool IsJsonNumber(std::string_view s);

// The text of a scalar token (number, true, false), without trailing blanks.
std::string_view Token(simdjson::ondemand::value& v);

// Walks a value completely so that every token is checked. `depth` is the
// nesting level of `v` in its document (callers pass the level they know:
// 1 for a field of a batch's item, more for deeper values); past kMaxDepth
// the walk stops with DEPTH_ERROR, so a hostile body cannot exhaust the
// stack.
simdjson::error_code Validate(simdjson::ondemand::value v, int depth);

// An error in words: "malformed number", "malformed value (…)", or simdjson's.
std::string Describe(simdjson::error_code err);

// A JSON type's name with its article: "an array", "a string", "null".
const char* TypeName(simdjson::ondemand::json_type t);

// An item is one JSON value: anything after it (on an NDJSON line) is an error.
Status AtEnd(simdjson::ondemand::document& doc);

// `doc` (the whole of `item`) is of type `t`, not an object: checks that it
// is valid JSON all the same (Invalid, with the error, when not) and sets
// `*reject_reason` to "<noun> must be a JSON object, got <a type>".
Status RejectNonObject(std::string_view item, simdjson::ondemand::document& doc,
                       simdjson::ondemand::json_type t, std::string_view noun,
                       std::string* reject_reason);

// The start of every On-Demand item parser: iterates `item` (REQUIRES:
// `capacity` >= item.size() + SIMDJSON_PADDING readable bytes) with the
// thread's item parser (or one kept in *big) into *doc, and sets *obj to its
// object. Invalid JSON: kInvalid. Valid JSON that is not an object: OK with
// *reject_reason set (RejectNonObject) and *obj unset.
Status OpenItem(std::string_view item, size_t capacity, std::string_view noun,
                std::unique_ptr<simdjson::ondemand::parser>* big, simdjson::ondemand::document* doc,
                simdjson::ondemand::object* obj, std::string* reject_reason);

}  // namespace sink::json
