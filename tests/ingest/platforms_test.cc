// Platform adapters end to end through the writer, on a real SQLite file:
// documented payloads in, session rows out. Each case is also replayed in
// shuffled orders with duplicates, in random commit groups, and must give
// the same rows (the merge does not depend on arrival order).
#include <algorithm>
#include <map>
#include <random>

#include "ingest/platforms/platforms.h"
#include "ingest/platforms/registry.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

// A body as its route receives it: the platform (its parser in the
// registry) and the Content-Type (ZEGO's callbacks come as forms).
struct Src {
  Platform platform;
  std::string_view content_type;
};
constexpr Src kGameLift{Platform::kGameLift, "application/json"};
constexpr Src kZego{Platform::kZego, "application/json"};
constexpr Src kZegoForm{Platform::kZego, "application/x-www-form-urlencoded"};
constexpr Src kStreampixel{Platform::kStreampixel, "application/json"};

Result<ParsedBody> ParseFor(Src src, const std::string& body) {
  std::string padded = body;
  padded.append(simdjson::SIMDJSON_PADDING, ' ');
  const simdjson::padded_string_view v(padded.data(), body.size(), padded.size());
  return SpecOf(src.platform).parse(v, BodyContext{src.content_type});
}

constexpr const char* kColumns =
    "SELECT id, kind, platform, state, raw_state, raw_reason, end_class, queued_ms, "
    "reconnect_count, reconnect_ms, stall_count, stalled_ms, opened_at, authorized_at, "
    "started_at, closed_at, user_id, external_id FROM sessions ORDER BY id";

class PlatformsTest : public ::testing::Test {
 protected:
  // Writes the bodies in order, up to `per_commit` of them in one commit.
  void WriteAll(const std::vector<std::pair<Src, std::string>>& bodies, size_t per_commit = 1) {
    for (size_t i = 0; i < bodies.size(); i += per_commit) {
      std::vector<Writer::Future> futures;
      for (size_t j = i; j < std::min(bodies.size(), i + per_commit); ++j) {
        Result<ParsedBody> p = ParseFor(bodies[j].first, bodies[j].second);
        ASSERT_TRUE(p.ok()) << p.status().ToString() << " in " << bodies[j].second;
        ASSERT_TRUE(p->rejects.empty()) << p->rejects[0].reason << " in " << bodies[j].second;
        WriteBatch b;
        b.received_at = 1800000000000;
        b.events = std::move(p->events);
        Result<Writer::Future> f = writer_->Submit(std::move(b));
        ASSERT_TRUE(f.ok());
        futures.push_back(std::move(f.value()));
      }
      for (Writer::Future& f : futures) ASSERT_TRUE(f.get().ok());
    }
    ASSERT_OK(writer_->FlushNow());
  }

  void Open(const std::string& path) {
    writer_.reset();
    WriterOptions o;
    o.db_path = path;
    o.reparse = ReparseStoredEvent;
    auto w = Writer::Open(o, &clock_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w.value());
  }

  // The rows for `bodies` in order; then the same for shuffled, duplicated
  // replays, each on a fresh file.
  void Expect(const std::vector<std::pair<Src, std::string>>& bodies,
              const std::vector<std::string>& want) {
    test::TempDir tmp;
    Open(tmp.File("in-order.db"));
    WriteAll(bodies);
    // Rows come ORDER BY id: the expected ones sorted alike.
    std::vector<std::string> sorted = want;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(test::QueryRows(tmp.File("in-order.db"), kColumns), sorted);
    std::mt19937 rng(7);
    for (int round = 0; round < 8; ++round) {
      std::vector<std::pair<Src, std::string>> replay = bodies;
      for (size_t k = 0; k < bodies.size() / 2 + 1; ++k) {
        replay.push_back(bodies[std::uniform_int_distribution<size_t>(0, bodies.size() - 1)(rng)]);
      }
      std::shuffle(replay.begin(), replay.end(), rng);
      const std::string path = tmp.File("replay" + std::to_string(round) + ".db");
      Open(path);
      WriteAll(replay, 1 + round % 3);
      writer_.reset();
      EXPECT_EQ(test::QueryRows(path, kColumns), sorted) << "replay " << round;
    }
  }

  FakeClock clock_{1800000000000};
  std::unique_ptr<Writer> writer_;
};

// GameLift record with the usual fields; times in epoch seconds as the AWS
// CLI and SDKs print them (fractions allowed).
std::pair<Src, std::string> GL(const std::string& arn, const std::string& status,
                               const std::string& reason, const std::string& updated) {
  std::string s = R"({"Arn":")" + arn + R"(","Status":")" + status + "\"";
  if (!reason.empty()) s += R"(,"StatusReason":")" + reason + "\"";
  s +=
      R"(,"UserId":"player-1","Location":"us-west-2","Protocol":"WebRTC",)"
      R"("ApplicationArn":"arn:aws:gameliftstreams:us-west-2:111122223333:application/a-9ZY8X7Wv6",)"
      R"("ConnectionTimeoutSeconds":120,"SessionLengthSeconds":43200,)"
      R"("CreatedAt":1732406400,"LastUpdatedAt":)" +
      updated + "}";
  return {kGameLift, s};
}

TEST_F(PlatformsTest, GameLiftSessionThatErrorsDuringPlacement) {
  // Placement started at CreatedAt and timed out 300.5 s later: no capacity.
  Expect({GL("arn:gl/s1", "ACTIVATING", "", "1732406400"),
          GL("arn:gl/s1", "ERROR", "placementTimeout", "1732406700.5")},
         {"gamelift/arn:gl/"
          "s1\tplay\tgamelift\tfinished\tERROR\tplacementTimeout\tcapacity\t300500\t0\t0"
          "\t0\t0\t1732406400000\tNULL\tNULL\t1732406700500\tplayer-1\tNULL"});
}

TEST_F(PlatformsTest, GameLiftSessionWithAReconnectionThatEndsIdle) {
  // Ready after 20 s of placement, connected 10 s later; the client drops at
  // +300 s and is back at +340 s; 60 minutes without input end it.
  Expect(
      {GL("arn:gl/s2", "ACTIVATING", "", "1732406400"), GL("arn:gl/s2", "ACTIVE", "", "1732406420"),
       GL("arn:gl/s2", "CONNECTED", "", "1732406430"),
       GL("arn:gl/s2", "PENDING_CLIENT_RECONNECTION", "", "1732406700"),
       GL("arn:gl/s2", "RECONNECTING", "", "1732406710"),
       GL("arn:gl/s2", "CONNECTED", "", "1732406740"),
       GL("arn:gl/s2", "TERMINATING", "idleTimeout", "1732410340"),
       GL("arn:gl/s2", "TERMINATED", "idleTimeout", "1732410345")},
      {"gamelift/arn:gl/"
       "s2\tplay\tgamelift\tfinished\tTERMINATED\tidleTimeout\tidle_timeout\t20000\t1"
       "\t40000\t1\t40000\t1732406400000\t1732406420000\t1732406430000\t1732410345000\tplayer-1"
       "\tNULL"});
}

TEST_F(PlatformsTest, GameLiftEveryDocumentedReasonHasItsClass) {
  // One session per reason: ACTIVE at +10 s, then the end at +60 s.
  const std::pair<const char*, const char*> terminated[] = {
      {"apiTerminated", "admin_kick"},      {"applicationExit", "app_crash"},
      {"connectionTimeout", "network"},     {"idleTimeout", "idle_timeout"},
      {"maxSessionLengthTimeout", "limit"}, {"reconnectionTimeout", "network"},
      {"assumeRoleFailed", "unknown"},
  };
  const std::pair<const char*, const char*> error[] = {
      {"applicationLogS3DestinationError", "internal"},
      {"internalError", "internal"},
      {"invalidSignalRequest", "internal"},
      {"placementTimeout", "capacity"},
  };
  std::vector<std::pair<Src, std::string>> bodies;
  std::vector<std::string> want;
  auto row = [](const std::string& id, const char* state, const char* reason, const char* cls,
                const char* queued, const char* authorized) {
    return "gamelift/" + id + "\tplay\tgamelift\tfinished\t" + state + "\t" + reason + "\t" + cls +
           "\t" + queued + "\t0\t0\t0\t0\t1732406400000\t" + authorized +
           "\tNULL\t1732406460000\tplayer-1\tNULL";
  };
  for (const auto& [reason, cls] : terminated) {
    const std::string id = std::string("arn:gl/t-") + reason;
    bodies.push_back(GL(id, "ACTIVE", "", "1732406410"));
    bodies.push_back(GL(id, "TERMINATED", reason, "1732406460"));
    want.push_back(row(id, "TERMINATED", reason, cls, "10000", "1732406410000"));
  }
  for (const auto& [reason, cls] : error) {
    const std::string id = std::string("arn:gl/e-") + reason;
    bodies.push_back(GL(id, "ERROR", reason, "1732406460"));
    want.push_back(row(id, "ERROR", reason, cls, "60000", "NULL"));
  }
  // A status this sink does not know: kept verbatim, the session stays open.
  bodies.push_back(GL("arn:gl/x", "HIBERNATING", "", "1732406410"));
  want.push_back(
      "gamelift/arn:gl/x\tplay\tgamelift\testablishing\tHIBERNATING\tNULL\tNULL\tNULL\t0\t0\t0\t0"
      "\t1732406400000\tNULL\tNULL\tNULL\tplayer-1\tNULL");
  std::sort(want.begin(), want.end());
  Expect(bodies, want);
}

TEST_F(PlatformsTest, GameLiftListOutputAndRepeatedRecords) {
  // ListStreamSessions' page, polled twice: the second poll is all duplicates.
  const std::string page =
      R"({"Items":[{"Arn":"arn:gl/l1","Status":"CONNECTED","CreatedAt":"2024-11-24T00:00:00Z",)"
      R"("LastUpdatedAt":"2024-11-24T00:00:45.250Z","UserId":"u"}],"NextToken":null})";
  test::TempDir tmp;
  Open(tmp.File("list.db"));
  WriteAll({{kGameLift, page}, {kGameLift, page}});
  writer_.reset();
  EXPECT_EQ(
      test::QueryRows(tmp.File("list.db"), "SELECT state, started_at, event_count FROM sessions"),
      (std::vector<std::string>{"running\t1732406445250\t1"}));
  EXPECT_EQ(test::QueryRows(tmp.File("list.db"), "SELECT count(*) FROM events"),
            (std::vector<std::string>{"1"}));
}

std::pair<Src, std::string> Z(const std::string& json) { return {kZego, json}; }

TEST_F(PlatformsTest, ZegoUserReconnectsWithinTheHeartbeatWindow) {
  // Logged in; the client loses the network at +60 s and is back at +75 s,
  // inside the 90-second heartbeat window, so the server never logs it out;
  // it logs out normally at +600 s.
  Expect(
      {{kZegoForm,
        "event=room_login&appid=1234567&timestamp=1732406400&nonce=42&signature=abc&room_id=lobby"
        "&room_seq=8&room_name=Lobby&user_account=alice&user_nickname=Alice&session_id="
        "5551&login_time=1732406400123"},
       Z(R"({"event":"room_state_changed","room_id":"lobby","user_id":"alice","session_id":"5551",)"
         R"("reason":"RECONNECTING","error_code":1002051,"timestamp":1732406460000})"),
       Z(R"({"event":"room_state_changed","room_id":"lobby","user_id":"alice","session_id":"5551",)"
         R"("reason":"RECONNECTED","error_code":0,"timestamp":1732406475000})"),
       Z(R"({"event":"room_logout","appid":1234567,"timestamp":1732407000,"room_id":"lobby",)"
         R"("user_account":"alice","session_id":"5551","login_time":1732406400123,)"
         R"("logout_time":1732407000500,"user_role":1,"reason":0})")},
      {"zego/lobby/user/alice/5551\tplay\tzego\tfinished\troom_logout\t0\tnormal\tNULL\t1\t15000\t1"
       "\t15000\t1732406400123\tNULL\t1732406400123\t1732407000500\talice\t5551"});
}

TEST_F(PlatformsTest, ZegoHeartbeatTimeoutEndsTheSession) {
  // The client drops at +60 s and never comes back: 90 s later the server
  // logs it out for a heartbeat timeout.
  Expect(
      {Z(R"({"event":"room_login","appid":"1234567","timestamp":"1732406400","room_id":"lobby",)"
         R"("user_account":"bob","session_id":"77","login_time":"1732406400000"})"),
       Z(R"({"event":"room_state_changed","room_id":"lobby","user_id":"bob","session_id":"77",)"
         R"("reason":3,"timestamp":1732406460000})"),
       Z(R"({"event":"room_logout","appid":"1234567","timestamp":"1732406550","room_id":"lobby",)"
         R"("user_account":"bob","session_id":"77","logout_time":"1732406550000","reason":"1"})")},
      {"zego/lobby/user/bob/77\tplay\tzego\tfinished\troom_logout\t1\tnetwork\tNULL\t1\t90000\t1"
       "\t90000\t1732406400000\tNULL\t1732406400000\t1732406550000\tbob\t77"});
}

TEST_F(PlatformsTest, ZegoEveryCloseTypeReasonAndClientState) {
  std::vector<std::pair<Src, std::string>> bodies;
  std::vector<std::string> want;
  // stream_close "type".
  const std::pair<int, const char*> types[] = {
      {0, "normal"},  {1, "network"},    {2, "user_left"},    {3, "admin_kick"},
      {4, "network"}, {5, "admin_kick"}, {100, "admin_kick"}, {7, "unknown"}};
  for (const auto& [type, cls] : types) {
    const std::string s = "s" + std::to_string(type);
    bodies.push_back(Z(R"({"event":"stream_create","appid":1,"room_id":"r","user_id":"pub",)"
                       R"("stream_id":")" +
                       s + R"(","stream_sid":"sid-)" + s +
                       R"(","create_time":1732406400,"create_time_ms":1732406400000})"));
    bodies.push_back(Z(R"({"event":"stream_close","appid":1,"timestamp":1732406500,)"
                       R"("room_id":"r","user_id":"pub","stream_id":")" +
                       s + R"(","stream_sid":"sid-)" + s + R"(","type":)" + std::to_string(type) +
                       "}"));
    want.push_back("zego/r/stream/" + s + "\tpublish\tzego\tfinished\tstream_close\t" +
                   std::to_string(type) + "\t" + cls +
                   "\tNULL\t0\t0\t0\t0\t1732406400000\tNULL\t1732406400000\t1732406500000\tpub"
                   "\tsid-" +
                   s);
  }
  // room_logout "reason" (the login is not needed for the row).
  const std::pair<int, const char*> logouts[] = {{0, "normal"},     {1, "network"}, {2, "network"},
                                                 {3, "admin_kick"}, {4, "denied"},  {9, "unknown"}};
  for (const auto& [reason, cls] : logouts) {
    const std::string u = "u" + std::to_string(reason);
    bodies.push_back(Z(R"({"event":"room_logout","appid":1,"timestamp":1732406500,"room_id":"r",)"
                       R"("user_account":")" +
                       u +
                       R"(","session_id":"1","login_time":1732406400000,)"
                       R"("logout_time":1732406500000,"reason":)" +
                       std::to_string(reason) + "}"));
    want.push_back("zego/r/user/" + u + "/1\tplay\tzego\tfinished\troom_logout\t" +
                   std::to_string(reason) + "\t" + cls +
                   "\tNULL\t0\t0\t0\t0\t1732406400000\tNULL\tNULL\t1732406500000\t" + u + "\t1");
  }
  // room_close "close_reason".
  const std::pair<int, const char*> rooms[] = {
      {0, "normal"}, {1, "network"}, {2, "user_left"}, {3, "admin_kick"}};
  for (const auto& [reason, cls] : rooms) {
    const std::string room = "room" + std::to_string(reason);
    bodies.push_back(Z(R"({"event":"room_close","appid":1,"timestamp":1732406600,"room_id":")" +
                       room + R"(","room_seq":"5","close_reason":)" + std::to_string(reason) +
                       R"(,"room_close_time":1732406600000})"));
    want.push_back("zego/" + room + "/room/5\tstream\tzego\tfinished\troom_close\t" +
                   std::to_string(reason) + "\t" + cls +
                   "\tNULL\t0\t0\t0\t0\tNULL\tNULL\tNULL\t1732406600000\tNULL\tNULL");
  }
  // Client room states that end a session, by name and by number.
  const std::tuple<const char*, const char*, const char*> ends[] = {
      {"LOGIN_FAILED", "denied", "1002033"},
      {"5", "network", "1002053"},  // RECONNECT_FAILED
      {"KickOut", "admin_kick", "1002050"},
      {"LOGOUT", "normal", "0"},
  };
  for (const auto& [reason, cls, code] : ends) {
    const std::string u = std::string("c-") + reason;
    bodies.push_back(Z(R"({"event":"room_state_changed","room_id":"r","user_id":")" + u +
                       R"(","session_id":"9","reason":"LOGINING","timestamp":1732406400000})"));
    bodies.push_back(Z(R"({"event":"room_state_changed","room_id":"r","user_id":")" + u +
                       R"(","session_id":"9","reason":")" + reason + R"(","error_code":)" + code +
                       R"(,"timestamp":1732406410000})"));
    want.push_back("zego/r/user/" + u + "/9\tplay\tzego\tfinished\t" + reason + "\t" + code + "\t" +
                   cls + "\tNULL\t0\t0\t0\t0\t1732406400000\tNULL\tNULL\t1732406410000\t" + u +
                   "\t9");
  }
  // LOGOUT_FAILED is kept verbatim and ends nothing.
  bodies.push_back(Z(R"({"event":"room_state_changed","room_id":"r","user_id":"lf",)"
                     R"("session_id":"9","reason":"LOGOUT_FAILED","error_code":1000002,)"
                     R"("timestamp":1732406400000})"));
  want.push_back(
      "zego/r/user/lf/9\tplay\tzego\testablishing\tLOGOUT_FAILED\t1000002\tNULL\tNULL\t0\t0\t0\t0"
      "\tNULL\tNULL\tNULL\tNULL\tlf\t9");
  std::sort(want.begin(), want.end());
  Expect(bodies, want);
}

TEST_F(PlatformsTest, ZegoPlayerRetriesAreReconnectionsOfThePlay) {
  // A viewer plays alice's stream; the SDK falls back to requesting with an
  // error (a network drop) and recovers; then stops playing.
  auto player = [](const std::string& state, int code, int64_t t) {
    return Z(R"({"event":"player_state_changed","room_id":"r","user_id":"v","stream_id":"s",)"
             R"("state":")" +
             state + R"(","error_code":)" + std::to_string(code) + R"(,"timestamp":)" +
             std::to_string(t) + "}");
  };
  Expect({player("PLAY_REQUESTING", 0, 1732406400000), player("PLAYING", 0, 1732406401000),
          player("PLAY_REQUESTING", 1004020, 1732406460000), player("PLAYING", 0, 1732406463000),
          player("NO_PLAY", 0, 1732406500000)},
         {"zego/r/play/s/v\tplay\tzego\tfinished\tNO_PLAY\t0\tnormal\tNULL\t1\t3000\t1\t3000"
          "\t1732406400000\tNULL\t1732406401000\t1732406500000\tv\tNULL"});
}

TEST_F(PlatformsTest, ZegoPublisherStatesAndAClientLogin) {
  // The app forwards alice's publisher states (names and numbers) and her
  // room login; the server's stream_create for the same stream meets them
  // in one publish row.
  auto pub = [](const std::string& state, int code, int64_t t) {
    return Z(R"({"event":"publisher_state_changed","room_id":"r","user_id":"alice",)"
             R"("stream_id":"cam","state":")" +
             state + R"(","error_code":)" + std::to_string(code) + R"(,"timestamp":)" +
             std::to_string(t) + "}");
  };
  Expect({pub("PUBLISH_REQUESTING", 0, 1732406400000), pub("2", 0, 1732406401000),
          Z(R"({"event":"stream_create","appid":1,"room_id":"r","user_id":"alice",)"
            R"("stream_id":"cam","stream_sid":"sid-cam","create_time_ms":1732406401200})"),
          pub("1", 1003023, 1732406500000), pub("PUBLISHING", 0, 1732406504000),
          pub("NO_PUBLISH", 0, 1732406600000),
          Z(R"({"event":"room_state_changed","room_id":"r","user_id":"alice","session_id":"3",)"
            R"("reason":"LOGINING","timestamp":1732406399000})"),
          Z(R"({"event":"room_state_changed","room_id":"r","user_id":"alice","session_id":"3",)"
            R"("reason":"LOGINED","timestamp":1732406399500})")},
         {"zego/r/user/alice/3\tplay\tzego\trunning\tLOGINED\tNULL\tNULL\tNULL\t0\t0\t0\t0"
          "\t1732406399000\tNULL\t1732406399500\tNULL\talice\t3",
          "zego/r/stream/cam\tpublish\tzego\tfinished\tNO_PUBLISH\t0\tnormal\tNULL\t1\t4000"
          "\t1\t4000\t1732406400000\tNULL\t1732406401000\t1732406600000\talice\tsid-cam"});
}

std::pair<Src, std::string> SP(const std::string& key, int seq, int64_t at,
                               const std::string& message) {
  return {kStreampixel, R"({"key":")" + key + R"(","seq":)" + std::to_string(seq) + R"(,"at":)" +
                            std::to_string(at) + R"(,"message":)" + message +
                            R"(,"user_id":"viewer-7","project":"demo"})"};
}

TEST_F(PlatformsTest, StreampixelViewerQueuesThenGetsNoWorker) {
  // Waits in the queue from +1 s; 4001 (no worker node available) at +20 s.
  const std::string k = "6f1c1a40-0000-4000-8000-000000000001";
  Expect({SP(k, 1, 1732406400000, R"({"type":"stream-state","value":"authenticating"})"),
          SP(k, 2, 1732406401000, R"({"type":"stream-state","value":"queue-2"})"),
          SP(k, 3, 1732406410000, R"({"type":"stream-state","value":"queue-1"})"),
          SP(k, 4, 1732406420000,
             R"({"type":"disconnect","code":4001,"reason":"No Worker Node Available"})")},
         {"streampixel/" + k +
          "\tplay\tstreampixel\tfinished\tdisconnect\t4001\tcapacity\t19000\t0\t0\t0\t0"
          "\t1732406400000\tNULL\tNULL\t1732406420000\tviewer-7\tNULL"});
}

// A form field that is not UTF-8 once percent-decoded cannot become the
// event's JSON body: the whole callback is unreadable (400), as invalid
// UTF-8 in a JSON body is.
TEST(ZegoFormTest, FieldThatIsNotUtf8IsUnreadable) {
  Result<ParsedBody> r = ParseFor(kZegoForm, "event=room_login&room_id=r1&user_id=%FF");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_NE(r.status().message().find("not UTF-8"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(ParseFor(kZegoForm, "event=room_login&room_id=r1&user_id=%C3%A9").ok());
}

// Property: ZEGO's composite ids are injective. Random parts built from the
// pieces that made ids collide ('/', '%', the tags, escapes) over every kind
// of ZEGO session: two events get the same session id only when they name
// the same session (same kind of session, same parts).
TEST(ZegoIdTest, DistinctSessionsNeverShareAnId) {
  std::mt19937 rng(20);
  const std::vector<std::string> pieces = {"a",    "/",  "%",   "stream", "play", "room",
                                           "user", "2F", "%2F", "%25",    "b/c",  ""};
  auto part = [&](bool allow_empty) {
    std::string p;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) p += pieces[rng() % pieces.size()];
    if (p.empty() && !allow_empty) p = "x";
    return p;
  };
  auto json = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::map<std::string, std::string> owner;  // id -> the session it was built for
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string room = part(false), a = part(false), b = part(true);
    std::string body, who;
    switch (rng() % 4) {
      case 0:  // presence: room, user, login session
        body = R"({"event":"room_login","room_id":)" + json(room) + R"(,"user_id":)" + json(a) +
               R"(,"session_id":)" + json(b.empty() ? "s" : b) + R"(,"login_time":1732406400000})";
        who = "presence|" + room + "|" + a + "|" + (b.empty() ? "s" : b);
        break;
      case 1:  // a published stream: room, stream
        body = R"({"event":"stream_create","room_id":)" + json(room) + R"(,"stream_id":)" +
               json(a) + R"(,"create_time_ms":1732406400000})";
        who = "stream|" + room + "|" + a;
        break;
      case 2:  // a played stream: room, stream, user
        body = R"({"event":"player_state_changed","room_id":)" + json(room) + R"(,"stream_id":)" +
               json(a) + R"(,"user_id":)" + json(b.empty() ? "u" : b) +
               R"(,"state":"PLAYING","timestamp":1732406400000})";
        who = "play|" + room + "|" + a + "|" + (b.empty() ? "u" : b);
        break;
      default:  // the room: room, room_seq
        body = R"({"event":"room_close","room_id":)" + json(room) + R"(,"room_seq":)" + json(a) +
               R"(,"room_close_time":1732406400000})";
        who = "room|" + room + "|" + a;
        break;
    }
    Result<ParsedBody> r = ParseFor(kZego, body);
    ASSERT_TRUE(r.ok()) << body << ": " << r.status().ToString();
    ASSERT_EQ(r->events.size(), 1u) << body;
    ASSERT_TRUE(r->events[0].id) << body;
    const std::string& id = *r->events[0].id;
    EXPECT_EQ(id.rfind("zego/", 0), 0u) << id;
    auto [it, added] = owner.emplace(id, who);
    if (!added) {
      ASSERT_EQ(it->second, who) << "two sessions share the id " << id;
      ++checked;
    }
  }
  EXPECT_GT(owner.size(), 5000u);
  EXPECT_GT(checked, 0);  // the same session did come up again, with the same id
}

// Every platform endpoint's ids carry its platform's prefix, and Flussonic's
// /events cannot use one.
TEST(PlatformIdTest, EveryPlatformNamespacesItsIds) {
  auto only_id = [](Result<ParsedBody> r) {
    EXPECT_TRUE(r.ok());
    return r.ok() && r->events.size() == 1 && r->events[0].id ? *r->events[0].id : "";
  };
  EXPECT_EQ(
      only_id(ParseFor(kStreampixel, R"({"key":"k1","at":1732406400000,"message":{"type":"x"}})")),
      "streampixel/k1");
  EXPECT_EQ(only_id(ParseFor(kGameLift, R"({"Arn":"arn:x","Status":"ACTIVE"})")), "gamelift/arn:x");
  for (const char* id : {"streampixel/k1", "gamelift/arn:x", "zego/r/stream/s", "nginx-rtmp/e/1"}) {
    Result<ParsedBody> r =
        test::Parse(R"([{"event":"play_opened","id":")" + std::string(id) + R"(","server":"s"}])");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->events.empty()) << id;
    ASSERT_EQ(r->rejects.size(), 1u) << id;
    EXPECT_NE(r->rejects[0].reason.find("another platform"), std::string::npos);
  }
  EXPECT_EQ(test::Parse(R"([{"event":"play_opened","id":"zego","server":"s"}])")->events.size(),
            1u);
}

}  // namespace
}  // namespace sink

namespace sink {
namespace {

// Every platform in the registry can be read back at replay (store/platform.h
// order; the route may be empty: nginx-rtmp has its own endpoint).
TEST(PlatformRegistryTest, EveryPlatformHasAReplayParser) {
  for (const PlatformSpec& spec : PlatformSpecs()) {
    EXPECT_NE(spec.replay, nullptr) << NameOf(spec.platform);
  }
}

}  // namespace
}  // namespace sink
