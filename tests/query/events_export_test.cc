// `sessionsink events`: every line is one JSON object, in seq order, and the
// filters select exactly what they name.
#include "query/events_export.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <string>
#include <vector>

namespace sink {
namespace {

LogRecord Rec(int64_t seq, std::string server, std::optional<std::string> session,
              std::optional<int64_t> utc_ms, std::string body) {
  LogRecord r;
  r.seq = seq;
  r.received_at = 1767225600000 + seq;
  r.server = std::move(server);
  r.event = "play_updated";
  r.session_id = std::move(session);
  r.utc_ms = utc_ms;
  r.body = std::move(body);
  return r;
}

const std::vector<LogRecord>& Log() {
  static const std::vector<LogRecord> log = {
      Rec(1, "edge-1", "a", 1767225600000, "{\"event\":\"play_opened\",\n  \"id\": \"a\"}"),
      Rec(2, "edge-2", "b", 1767225601000, R"({"event":"play_opened","id":"b","ua":"x  y"})"),
      Rec(3, "edge-1", std::nullopt, std::nullopt, R"({"event":"server_started"})"),
      Rec(4, "edge-1", "a", 1767225602000, R"({"event":"play_closed","id":"a"})"),
  };
  return log;
}

// Runs the export into a string.
Result<std::string> Export(const EventsRequest& r) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  Status st = ExportEvents(
      r,
      [](const std::function<Status(const LogRecord&)>& fn) {
        for (const LogRecord& e : Log()) SINK_RETURN_IF_ERROR(fn(e));
        return Status::Ok();
      },
      out);
  std::fclose(out);
  std::string text(buf, len);
  std::free(buf);
  if (!st.ok()) return st;
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  EXPECT_EQ(start, text.size()) << "the output ends with a newline";
  return lines;
}

TEST(EventsExportTest, EveryEventIsOneJsonObjectALineInSeqOrder) {
  Result<std::string> text = Export({});
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const std::vector<std::string> lines = Lines(text.value());
  ASSERT_EQ(lines.size(), 4u);
  simdjson::dom::parser parser;
  for (const std::string& line : lines) {
    simdjson::dom::object o;
    EXPECT_EQ(parser.parse(line).get(o), simdjson::SUCCESS) << line;
  }
  // Whitespace between tokens goes; text inside strings stays.
  EXPECT_EQ(lines[0], R"({"event":"play_opened","id":"a"})");
  EXPECT_EQ(lines[1], R"({"event":"play_opened","id":"b","ua":"x  y"})");
  EXPECT_EQ(lines[3], R"({"event":"play_closed","id":"a"})");
}

TEST(EventsExportTest, FiltersBySessionServerAndHalfOpenWindow) {
  EventsRequest by_session;
  by_session.session = "a";
  EXPECT_EQ(Lines(Export(by_session).value()).size(), 2u);

  EventsRequest by_server;
  by_server.server = "edge-1";
  by_server.count = true;
  EXPECT_EQ(Export(by_server).value(), "3\n");

  // [from, to): the event at `to` is out; one without utc_ms is placed at
  // its receive time (seq 3: 1767225600003).
  EventsRequest window;
  window.from = "2026-01-01T00:00:00Z";
  window.to = "1767225602000";
  const std::vector<std::string> lines = Lines(Export(window).value());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], R"({"event":"server_started"})");
}

TEST(EventsExportTest, BadOptionsAreNamed) {
  EventsRequest bad;
  bad.from = "yesterday";
  Result<std::string> r = Export(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_NE(r.status().message().find("--from"), std::string::npos);

  EventsRequest reversed;
  reversed.from = "2026-01-02T00:00:00Z";
  reversed.to = "2026-01-01T00:00:00Z";
  EXPECT_EQ(Export(reversed).status().code(), Status::Code::kInvalid);
}

}  // namespace
}  // namespace sink
