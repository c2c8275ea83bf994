// The nginx-rtmp adapter: which session each callback belongs to (the
// identity rules of docs/platforms.md), what it stores, and that the stored
// body alone gives the same event back. Callback bodies are in nginx's
// wire format (tests/golden/nginx_rtmp_capture has a whole real capture).
#include <simdjson.h>

#include <chrono>

#include "ingest/platforms/nginx_rtmp.h"
#include "ingest/platforms/platforms.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kT = 1732406400000;
const std::string kPub =
    "app=live&flashver=FMLE/3.0%20(compatible%3B%20Lavf59.27&swfurl=&tcurl=rtmp://"
    "127.0.0.1:1935/live&pageurl=&addr=127.0.0.1&clientid=";
const std::string kViewer =
    "app=live&flashver=LNX%209,0,124,2&swfurl=&tcurl=rtmp://127.0.0.1:1935/live&pageurl=&addr="
    "198.51.100.7&clientid=";

class NginxRtmpTest : public ::testing::Test {
 protected:
  // The events of one callback (failing the test on an error).
  std::vector<Event> Call(const std::string& form, int64_t at, NginxRtmp* a = nullptr) {
    Result<ParsedBody> p = (a ? a : &adapter_)->Callback("edge1", form, at);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return {};
    EXPECT_TRUE(p->rejects.empty());
    for (const Event& e : p->events) {
      stored_.push_back({e.body, at});
      events_.push_back(e);
    }
    return p->events;
  }
  // The one event of a callback.
  Event One(const std::string& form, int64_t at, NginxRtmp* a = nullptr) {
    std::vector<Event> e = Call(form, at, a);
    EXPECT_EQ(e.size(), 1u) << form;
    return e.empty() ? Event{} : e[0];
  }

  NginxRtmp adapter_{{}, 1};
  std::vector<std::pair<std::string, int64_t>> stored_;  // body, received_at
  std::vector<Event> events_;                            // as Callback gave them
};

std::string Field(const std::string& json, const char* pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  EXPECT_EQ(p.parse(json).get(root), simdjson::SUCCESS) << json;
  std::string_view s;
  if (root.at_pointer(pointer).get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  simdjson::dom::element e;
  if (root.at_pointer(pointer).get(e) == simdjson::SUCCESS) return simdjson::minify(e);
  return "<absent>";
}

// A#92 of the nginx-rtmp captures: the client's stream arguments repeat
// nginx's own fields; the first occurrence is nginx's.
TEST_F(NginxRtmpTest, SpoofedArgumentsLoseToNginxsOwnFields) {
  const Event e = One(kPub +
                          "104&call=publish&name=cam2&type=live&call=play_done&clientid=999&addr="
                          "6.6.6.6&name=spoof",
                      kT);
  EXPECT_EQ(e.name, "nginx-rtmp.publish");
  EXPECT_EQ(e.kind, "publish");
  EXPECT_EQ(e.phase, Phase::kStarted);
  EXPECT_EQ(e.id, "nginx-rtmp/edge1/1732406400000/104/publish/live/cam2");
  EXPECT_EQ(e.media, "live/cam2");
  EXPECT_EQ(e.ip, "127.0.0.1");
  EXPECT_EQ(e.external_id, "104");
  EXPECT_EQ(e.server, "edge1");
  EXPECT_EQ(e.platform, "nginx-rtmp");
  EXPECT_EQ(e.utc_ms, kT);
  EXPECT_EQ(Field(e.body, "/callback/call"), "publish");
  EXPECT_EQ(Field(e.body, "/callback/addr"), "127.0.0.1");
  EXPECT_EQ(Field(e.body, "/repeated"), R"(["call","clientid","addr","name"])");
  // Later callbacks carry the same arguments and still find the session.
  const Event done = One(kPub + "104&call=done&name=cam2&call=play_done&clientid=999", kT + 5000);
  EXPECT_EQ(done.id, e.id);
  EXPECT_EQ(done.phase, Phase::kClosed);
}

TEST_F(NginxRtmpTest, StreamArgumentsBecomeTokenAndUser) {
  NginxRtmpOptions o;
  o.token_arg = "key";
  o.user_arg = "uid";
  NginxRtmp custom(o, 1);
  const Event e =
      One(kViewer + "7&call=play&name=cam1&start=0&duration=0&reset=0&key=k1&uid=u9&token=other",
          kT, &custom);
  EXPECT_EQ(e.token, "k1");
  EXPECT_EQ(e.user_id, "u9");
  const Event d = One(kViewer + "8&call=play&name=cam1&start=0&duration=0&reset=0&token=t&user=u",
                      kT, &adapter_);
  EXPECT_EQ(d.token, "t");
  EXPECT_EQ(d.user_id, "u");
}

// nginx escapes its own values (%20, never '+') and copies the client's
// arguments raw: '+' stays, a stray '%' stays, bytes that are not UTF-8
// become U+FFFD so the stored body is JSON.
TEST_F(NginxRtmpTest, FormDecodingKeepsClientTextAndStaysJson) {
  const Event e =
      One(kViewer + "9&call=play&name=cam1&token=a+b%2Bc&user=%zz%41&x=%ff%fe&=novalue&flag", kT);
  EXPECT_EQ(e.token, "a+b+c");
  EXPECT_EQ(e.user_id, "%zzA");
  EXPECT_EQ(Field(e.body, "/callback/x"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Field(e.body, "/callback/flag"), "");
  EXPECT_EQ(e.user_agent, "LNX 9,0,124,2");
  EXPECT_TRUE(simdjson::validate_utf8(e.body));
}

TEST_F(NginxRtmpTest, NotACallbackIsAnError) {
  for (const char* form : {"", "app=live&name=x", "call=&name=x", "&&&"}) {
    Result<ParsedBody> p = adapter_.Callback("edge1", form, kT);
    ASSERT_FALSE(p.ok()) << form;
    EXPECT_EQ(p.status().code(), Status::Code::kInvalid);
  }
}

TEST_F(NginxRtmpTest, SessionLessCalls) {
  // connect: no clientid; record_done; a health check's disconnect; an
  // unknown call: stored, no session.
  for (const std::string& form :
       {std::string("app=live&flashver=LNX%209&swfurl=&tcurl=&pageurl=&addr=127.0.0.1&epoch=5&"
                    "call=connect"),
        kPub + "3&call=record_done&recorder=&name=cam1&path=/tmp/cam1.flv",
        std::string("app=&flashver=&swfurl=&tcurl=&pageurl=&addr=127.0.0.1&clientid=1&call="
                    "disconnect&app="),
        kPub + "3&call=something_new&name=cam1"}) {
    const Event e = One(form, kT);
    EXPECT_FALSE(e.HasSession()) << form;
    EXPECT_EQ(e.phase, Phase::kNone) << form;
    EXPECT_EQ(e.server, "edge1");
  }
}

TEST_F(NginxRtmpTest, EveryCloseFindsTheSessionInAnyOrderThenNoneAfterTheGrace) {
  const Event pub = One(kPub + "3&call=publish&name=cam1&type=live", kT);
  // disconnect first (a dropped connection), then publish_done and done.
  for (const char* call : {"disconnect&app=live", "publish_done&name=cam1", "done&name=cam1"}) {
    const Event e = One(kPub + "3&call=" + call, kT + 9000);
    EXPECT_EQ(e.id, pub.id) << call;
    EXPECT_EQ(e.phase, Phase::kClosed);
    EXPECT_EQ(e.closed_at, kT + 9000);
    EXPECT_EQ(e.duration_ms, 9000);
    EXPECT_EQ(e.end_class, "normal");
    EXPECT_EQ(e.raw_reason, std::string(call).substr(0, std::string(call).find('&')));
  }
  // A close a minute later is of another session: none.
  const Event late = One(kPub + "3&call=done&name=cam1", kT + 9000 + 60001);
  EXPECT_FALSE(late.HasSession());
}

TEST_F(NginxRtmpTest, UpdatesKeepTheSessionAndGiveItsDuration) {
  const Event pub = One(kPub + "3&call=publish&name=cam1&type=live", kT);
  const Event up =
      One(kPub + "3&call=update_publish&time=30&timestamp=29900&name=cam1", kT + 30040);
  EXPECT_EQ(up.id, pub.id);
  EXPECT_EQ(up.phase, Phase::kUpdated);
  EXPECT_EQ(up.updated_at, kT + 30040);
  EXPECT_EQ(up.duration_ms, 30000);
  EXPECT_EQ(up.opened_at, kT);
  EXPECT_EQ(up.started_at, kT);
}

// nginx restarts and numbers connections from 1 again: a publish or play
// always starts a new session; an update whose `time` does not fit the
// remembered session is another session; the connection's disconnect ends
// only the sessions it still has.
TEST_F(NginxRtmpTest, RestartReusingClientidsNeverMerges) {
  const Event old_pub = One(kPub + "1&call=publish&name=cam1&type=live", kT);
  const Event old_play =
      One(kViewer + "2&call=play&name=cam1&start=0&duration=0&reset=0", kT + 500);
  // nginx killed: nothing more from run 1. Run 2, 20 s later:
  const Event pub = One(kPub + "1&call=publish&name=cam1&type=live", kT + 20000);
  EXPECT_NE(pub.id, old_pub.id);
  // clientid 2's play was not stored; its update says it began 4 s ago.
  const Event up = One(kViewer + "2&call=update_play&time=4&timestamp=3800&name=cam1", kT + 24000);
  EXPECT_TRUE(up.HasSession());
  EXPECT_NE(up.id, old_play.id);
  EXPECT_EQ(up.opened_at, kT + 20000);
  EXPECT_EQ(up.started_at, kT + 20000);
  const Event bye = One(kViewer + "2&call=disconnect&app=live", kT + 25000);
  EXPECT_EQ(bye.id, up.id);
  // clientid 1 now plays another stream: its disconnect ends that play only
  // (run 2's cam1 publish of clientid 1 is closed first, as nginx would).
  ASSERT_EQ(One(kPub + "1&call=publish_done&name=cam1", kT + 30000).id, pub.id);
  const Event play =
      One(kViewer + "1&call=play&name=cam7&start=0&duration=0&reset=0", kT + 31000 + 61000);
  std::vector<Event> ends = Call(kViewer + "1&call=disconnect&app=live", kT + 95000);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].id, play.id);
}

TEST_F(NginxRtmpTest, DisconnectEndsEveryStreamOfTheConnection) {
  const Event a = One(kPub + "4&call=publish&name=cam1&type=live", kT);
  const Event b = One(kPub + "4&call=play&name=cam2&start=0&duration=0&reset=0", kT + 100);
  One(kPub + "4&call=update_publish&time=2&timestamp=2000&name=cam1", kT + 2000);
  std::vector<Event> ends = Call(kPub + "4&call=disconnect&app=live", kT + 3000);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[0].id, a.id);
  EXPECT_EQ(ends[1].id, b.id);
  EXPECT_NE(ends[0].event_id, ends[1].event_id);  // distinct events, not duplicates
}

TEST_F(NginxRtmpTest, RelayIsAPushOfTheLiveStream) {
  One(kPub + "3&call=publish&name=cam1&type=live", kT);
  const Event push =
      One("app=&flashver=ngx-local-relay&swfurl=&tcurl=&pageurl=&addr=127.0.0.1:1935/"
          "relay&clientid=6&call=play&name=cam1&start=0&duration=0&reset=0",
          kT + 90);
  EXPECT_EQ(push.kind, "push");
  EXPECT_EQ(push.media, "live/cam1");
  EXPECT_EQ(push.url, "rtmp://127.0.0.1:1935/relay/cam1");
  EXPECT_FALSE(push.ip.has_value());
  EXPECT_EQ(push.phase, Phase::kStarted);
  // Its receiving side publishes relay/cam1; a later relay of cam1 still
  // takes the earliest live publish of that name, live/cam1.
  One("app=relay&flashver=LNX.11,1,102,55&swfurl=&tcurl=rtmp://127.0.0.1:1935/"
      "relay&pageurl=&addr=127.0.0.1&clientid=7&call=publish&name=cam1&type=live",
      kT + 91);
  const Event again =
      One("app=&flashver=ngx-local-relay&swfurl=&tcurl=&pageurl=&addr=10.0.0.2:1935/"
          "edge&clientid=8&call=play&name=cam1&start=0&duration=0&reset=0",
          kT + 200);
  EXPECT_EQ(again.media, "live/cam1");
  // No live publish of that name: the bare name.
  const Event lone =
      One("app=&flashver=ngx-local-relay&swfurl=&tcurl=&pageurl=&addr=10.0.0.2:1935/"
          "edge&clientid=9&call=play&name=zz&start=0&duration=0&reset=0",
          kT + 300);
  EXPECT_EQ(lone.media, "zz");
}

TEST_F(NginxRtmpTest, PlayerOfAnUnpublishedStreamHasNotStarted) {
  const Event play =
      One(kViewer + "12&call=play&name=ghost&start=4294965296&duration=0&reset=0", kT);
  EXPECT_EQ(play.phase, Phase::kOpened);
  EXPECT_FALSE(play.started_at.has_value());
  const Event wait = One(kViewer + "12&call=update_play&time=2&timestamp=0&name=ghost", kT + 2000);
  EXPECT_EQ(wait.phase, Phase::kOther);  // alive, not running
  EXPECT_EQ(wait.updated_at, kT + 2000);
  // The stream comes; the next update shows media flowing.
  One(kPub + "20&call=publish&name=ghost&type=live", kT + 3000);
  const Event flows =
      One(kViewer + "12&call=update_play&time=4&timestamp=900&name=ghost", kT + 4000);
  EXPECT_EQ(flows.phase, Phase::kUpdated);
  EXPECT_EQ(flows.started_at, kT + 4000);
  // A player of a live stream starts at once.
  EXPECT_EQ(One(kViewer + "13&call=play&name=ghost&start=0&duration=0&reset=0", kT + 5000).phase,
            Phase::kStarted);
}

// The replay contract: the stored body alone (no map, no options) gives the
// same event.
TEST_F(NginxRtmpTest, StoredBodyGivesTheSameEventBack) {
  One(kPub + "3&call=publish&name=cam1&type=live&token=t&user=u", kT);
  One(kViewer + "5&call=play&name=cam1&start=0&duration=0&reset=0&user=v", kT + 10);
  One(kViewer + "5&call=update_play&time=2&timestamp=1300&name=cam1&user=v", kT + 2010);
  One(kViewer + "6&call=update_play&time=8&timestamp=1300&name=cam1", kT + 8010);  // no play seen
  Call(kViewer + "5&call=disconnect&app=live", kT + 3000);
  One(kPub + "3&call=publish_done&name=cam1&token=t&user=u", kT + 4000);
  One("app=live&flashver=x&swfurl=&tcurl=&pageurl=&addr=1.2.3.4&epoch=9&call=connect", kT + 5000);
  ASSERT_EQ(stored_.size(), events_.size());
  for (size_t i = 0; i < stored_.size(); ++i) {
    SCOPED_TRACE(stored_[i].first);
    Result<Event> again = ParseNginxRtmpStored(stored_[i].first, stored_[i].second);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    const Event& e = events_[i];
    EXPECT_EQ(again->body, e.body);
    EXPECT_EQ(again->name, e.name);
    EXPECT_EQ(again->id, e.id);
    EXPECT_EQ(again->kind, e.kind);
    EXPECT_EQ(again->phase, e.phase);
    EXPECT_EQ(again->server, e.server);
    EXPECT_EQ(again->media, e.media);
    EXPECT_EQ(again->user_id, e.user_id);
    EXPECT_EQ(again->token, e.token);
    EXPECT_EQ(again->ip, e.ip);
    EXPECT_EQ(again->utc_ms, e.utc_ms);
    EXPECT_EQ(again->event_id, e.event_id);
    EXPECT_EQ(again->opened_at, e.opened_at);
    EXPECT_EQ(again->started_at, e.started_at);
    EXPECT_EQ(again->updated_at, e.updated_at);
    EXPECT_EQ(again->closed_at, e.closed_at);
    EXPECT_EQ(again->duration_ms, e.duration_ms);
    EXPECT_EQ(again->raw_state, e.raw_state);
    EXPECT_EQ(again->raw_reason, e.raw_reason);
    EXPECT_EQ(again->end_class, e.end_class);
    EXPECT_EQ(again->external_id, e.external_id);
  }
  for (const char* bad :
       {"", "[]", "{\"event\":\"play_started\"}", "{\"event\":\"nginx-rtmp.x\"}"}) {
    EXPECT_FALSE(ParseNginxRtmpStored(bad, kT).ok()) << bad;
  }
}

// At start the map is rebuilt from the stored events: the calls that come
// next find the same sessions as if the sink had not restarted.
TEST_F(NginxRtmpTest, RestoreFromStoredEventsGivesTheSameSessions) {
  const Event pub = One(kPub + "3&call=publish&name=cam1&type=live", kT);
  const Event play = One(kViewer + "5&call=play&name=cam1&start=0&duration=0&reset=0", kT + 10);
  One(kViewer + "6&call=play&name=cam1&start=0&duration=0&reset=0", kT + 20);
  One(kViewer + "6&call=play_done&name=cam1", kT + 900);
  NginxRtmp restarted({}, 1);
  for (const auto& [body, at] : stored_) restarted.Restore(body, at);
  EXPECT_EQ(restarted.tracked(), adapter_.tracked());
  for (NginxRtmp* a : {&adapter_, &restarted}) {
    EXPECT_EQ(One(kPub + "3&call=update_publish&time=2&timestamp=1&name=cam1", kT + 2000, a).id,
              pub.id);
    EXPECT_EQ(One(kViewer + "5&call=done&name=cam1", kT + 2500, a).id, play.id);
    // 6's play ended; its trailing done (in the grace) finds it, both times.
    EXPECT_TRUE(One(kViewer + "6&call=done&name=cam1", kT + 950, a).HasSession());
    // A new play of cam1 is started: the publish is live in both maps.
    EXPECT_EQ(One(kViewer + "9&call=play&name=cam1&start=0&duration=0&reset=0", kT + 3000, a).phase,
              Phase::kStarted);
  }
  // Event numbers go on after the stored ones.
  const Event next = One(kPub + "77&call=connect", kT + 4000, &restarted);
  EXPECT_GT(*next.event_id, 4);
}

TEST_F(NginxRtmpTest, ForgottenStartLetsTheNextCallStartItsOwn) {
  std::vector<Event> lost = Call(kViewer + "5&call=play&name=cam1&start=0&duration=0&reset=0", kT);
  adapter_.Forget(lost);
  const Event up = One(kViewer + "5&call=update_play&time=2&timestamp=0&name=cam1", kT + 2000);
  // Its own session, dated back by `time`, carries the opening the lost
  // play would have stored (here the same instant, so the same id).
  EXPECT_TRUE(up.HasSession());
  EXPECT_EQ(up.opened_at, kT);
  EXPECT_EQ(up.id, lost[0].id);
  EXPECT_EQ(adapter_.tracked(), 1u);
}

TEST_F(NginxRtmpTest, MapIsBounded) {
  NginxRtmpOptions o;
  o.max_connections = 50;
  o.retention_ms = 60000;
  NginxRtmp small(o, 1);
  for (int i = 0; i < 500; ++i) {
    One(kViewer + std::to_string(i) + "&call=play&name=cam1&start=0&duration=0&reset=0", kT + i,
        &small);
  }
  EXPECT_LE(small.tracked(), 51u);
  // Past the retention, connections are forgotten.
  One(kViewer + "9999&call=play&name=cam1&start=0&duration=0&reset=0", kT + 10 * 60000, &small);
  EXPECT_EQ(small.tracked(), 1u);
}

// A body of many fields (nginx cuts arguments at 255 bytes, but anyone with
// the token can post 64 KiB) is read in linear time.
TEST_F(NginxRtmpTest, ManyFieldsAreLinear) {
  std::string form = kPub + "3&call=publish&name=cam1";
  for (int i = 0; form.size() < 64 * 1024; ++i) form += "&k" + std::to_string(i % 5000) + "=v";
  const auto t0 = std::chrono::steady_clock::now();
  const Event e = One(form, kT);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_TRUE(e.HasSession());
  EXPECT_LT(ms, 2000);  // quadratic took seconds; linear takes milliseconds (more under sanitizers)
  EXPECT_EQ(Field(e.body, "/repeated").size() > 2, true);
}

TEST(NginxRtmpInstanceTest, Names) {
  for (const std::string& ok :
       {std::string("edge1"), std::string("a"), std::string("eu-west.1_b"), std::string(64, 'x')}) {
    EXPECT_TRUE(ValidInstance(ok)) << ok;
  }
  for (const std::string& bad : {std::string(""), std::string("a/b"), std::string("a b"),
                                 std::string("é"), std::string(65, 'x')}) {
    EXPECT_FALSE(ValidInstance(bad)) << bad;
  }
}

}  // namespace
}  // namespace sink
