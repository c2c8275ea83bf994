// The session merge: rules, and the property that the row depends only on
// the set of events (any order), also across a save/reload in between.
#include <algorithm>
#include <random>

#include "store/session.h"
#include "store/session_table.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kT0 = 1637094994000;

Event Ev(const std::string& name, Phase phase, int64_t utc_ms, const std::string& kind = "play") {
  Event e;
  e.name = name;
  e.kind = kind;
  e.kind_explicit = true;
  e.phase = phase;
  e.id = "s1";
  e.server = "edge1";
  e.utc_ms = utc_ms;
  return e;
}

SessionRow Merge(const std::vector<Event>& events) {
  Session s("s1");
  for (const Event& e : events) s.Apply(e, 1);
  return s.Row();
}

// The same, reloading the session from its stored row and merge state after
// every event, as separate commits would.
Result<SessionRow> MergeWithReloads(const std::vector<Event>& events) {
  Session s("s1");
  for (const Event& e : events) {
    s.Apply(e, 1);
    Result<Session> back = Session::FromStored(s.Row(), s.MergeState());
    if (!back.ok()) return back.status();
    s = std::move(back.value());
  }
  return s.Row();
}

// Whole rows compare equal, or the first column that differs is shown.
#define EXPECT_SAME_ROW(a, b) EXPECT_TRUE((a) == (b)) << SessionRowDiff(a, b)
#define ASSERT_SAME_ROW(a, b) ASSERT_TRUE((a) == (b)) << SessionRowDiff(a, b)

// Lifecycle events with the platform facts adapters add, at random: queue
// enter/leave, reconnections, raw states and reasons, end classes.
std::vector<Event> PlatformLifecycle(std::mt19937& rng) {
  std::vector<Event> ev = test::Lifecycle(rng, "s1");
  auto coin = [&rng](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  const char* classes[] = {"normal", "capacity", "unknown", "network"};
  for (Event& e : ev) {
    e.platform = "gamelift";
    if (coin(50)) e.raw_state = "S" + std::to_string(rng() % 5);
    if (coin(20)) e.raw_reason = "R" + std::to_string(rng() % 3);
    if (coin(15)) e.queue_enter = true;
    if (coin(15)) e.queue_leave = true;
    if (coin(15)) e.reconnect_begin = true;
    if (!e.reconnect_begin && coin(15)) e.reconnect_end = true;
    if (coin(10)) e.external_id = "x" + std::to_string(rng() % 3);
    if (e.phase == Phase::kClosed || e.phase == Phase::kDenied) e.end_class = classes[rng() % 4];
  }
  return ev;
}

TEST(SessionTest, LifecycleStates) {
  std::vector<Event> ev = {Ev("play_opened", Phase::kOpened, kT0)};
  EXPECT_EQ(Merge(ev).state, "establishing");
  ev.push_back(Ev("play_authorized", Phase::kAuthorized, kT0 + 100));
  EXPECT_EQ(Merge(ev).state, "establishing");
  ev.push_back(Ev("play_started", Phase::kStarted, kT0 + 2000));
  EXPECT_EQ(Merge(ev).state, "running");
  ev.push_back(Ev("play_stalled", Phase::kStalled, kT0 + 5000));
  EXPECT_EQ(Merge(ev).state, "stalling");
  ev.push_back(Ev("play_recovered", Phase::kRecovered, kT0 + 6500));
  EXPECT_EQ(Merge(ev).state, "running");
  ev.push_back(Ev("play_closed", Phase::kClosed, kT0 + 9000));
  SessionRow r = Merge(ev);
  EXPECT_EQ(r.state, "finished");
  EXPECT_EQ(r.opened_at, kT0);
  EXPECT_EQ(r.authorized_at, kT0 + 100);
  EXPECT_EQ(r.started_at, kT0 + 2000);
  EXPECT_EQ(r.closed_at, kT0 + 9000);
  EXPECT_EQ(r.stall_count, 1);
  EXPECT_EQ(r.stalled_ms, 1500);
  EXPECT_EQ(r.event_count, 6);
}

TEST(SessionTest, LateUpdateNeverReopensAFinishedSession) {
  Event upd = Ev("play_updated", Phase::kUpdated, kT0 + 50000);
  upd.bytes = 999;
  SessionRow r = Merge({Ev("play_opened", Phase::kOpened, kT0),
                        Ev("play_closed", Phase::kClosed, kT0 + 10000), upd});
  EXPECT_EQ(r.state, "finished");
  EXPECT_EQ(r.closed_at, kT0 + 10000);
  EXPECT_EQ(r.bytes, 999);  // the data still counts
  EXPECT_EQ(r.updated_at, kT0 + 50000);
}

TEST(SessionTest, OpenStallRunsToCloseTime) {
  SessionRow r = Merge({Ev("push_started", Phase::kStarted, kT0, "push"),
                        Ev("push_blocked", Phase::kStalled, kT0 + 1000, "push"),
                        Ev("push_closed", Phase::kClosed, kT0 + 4000, "push")});
  EXPECT_EQ(r.stall_count, 1);
  EXPECT_EQ(r.stalled_ms, 3000);
}

TEST(SessionTest, RepeatedStallWithoutRecoverIsOneInterval) {
  SessionRow r = Merge({Ev("play_started", Phase::kStarted, kT0),
                        Ev("play_stalled", Phase::kStalled, kT0 + 1000),
                        Ev("play_stalled", Phase::kStalled, kT0 + 2000),
                        Ev("play_recovered", Phase::kRecovered, kT0 + 3000),
                        Ev("play_recovered", Phase::kRecovered, kT0 + 3500)});
  EXPECT_EQ(r.stall_count, 1);
  EXPECT_EQ(r.stalled_ms, 2000);
  EXPECT_EQ(r.state, "running");
}

TEST(SessionTest, EarliestEventSuppliesDescriptiveFields) {
  Event late = Ev("play_updated", Phase::kUpdated, kT0 + 1000);
  late.ip = "10.0.0.2";
  late.user_id = "u1";
  Event early = Ev("play_opened", Phase::kOpened, kT0);
  early.ip = "10.0.0.1";
  SessionRow a = Merge({late, early});
  SessionRow b = Merge({early, late});
  EXPECT_EQ(a.desc[kIp], "10.0.0.1");
  EXPECT_EQ(a.desc[kUserId], "u1");  // only the later event has it
  EXPECT_SAME_ROW(a, b);
}

TEST(SessionTest, CloseReasonFromTheClosingEvent) {
  Event closed = Ev("play_closed", Phase::kClosed, kT0 + 5000);
  closed.reason = R"({"code":"timeout"})";
  SessionRow r = Merge({Ev("play_opened", Phase::kOpened, kT0), closed});
  EXPECT_EQ(r.close_reason, R"({"code":"timeout"})");
  EXPECT_FALSE(r.denied);
}

TEST(SessionTest, DeniedIsTerminal) {
  Event denied = Ev("play_denied", Phase::kDenied, kT0 + 20);
  denied.reason = "forbidden";
  SessionRow r = Merge({Ev("play_opened", Phase::kOpened, kT0), denied});
  EXPECT_EQ(r.state, "finished");
  EXPECT_TRUE(r.denied);
  EXPECT_EQ(r.closed_at, kT0 + 20);
  EXPECT_EQ(r.close_reason, "forbidden");
}

TEST(SessionTest, SyntheticCloseAndARealCloseLaterWins) {
  Session s("s1");
  s.Apply(Ev("play_started", Phase::kStarted, kT0), 1);
  s.Apply(Ev("play_updated", Phase::kUpdated, kT0 + 30000), 1);
  s.CloseSynthetic(SyntheticClose::kSinkTimeout);
  SessionRow r = s.Row();
  EXPECT_EQ(r.state, "finished");
  EXPECT_EQ(r.close_reason, "sink_timeout");
  EXPECT_EQ(r.closed_at, kT0 + 30000);

  Event closed = Ev("play_closed", Phase::kClosed, kT0 + 45000);
  closed.reason = "normal";
  s.Apply(closed, 2);
  r = s.Row();
  EXPECT_EQ(r.close_reason, "normal");
  EXPECT_EQ(r.closed_at, kT0 + 45000);

  s.CloseSynthetic(SyntheticClose::kServerRestart);  // no effect on a real close
  EXPECT_EQ(s.Row().close_reason, "normal");
}

TEST(SessionTest, InferredKindGivesWayToStatedKind) {
  Event inferred = Ev("source_opened", Phase::kOpened, kT0, "ingest");
  inferred.kind_explicit = false;
  Event stated = Ev("source_closed", Phase::kClosed, kT0 + 100, "publish");
  EXPECT_EQ(Merge({inferred, stated}).kind, "publish");
  EXPECT_EQ(Merge({stated, inferred}).kind, "publish");
}

TEST(SessionPropertyTest, AnyOrderGivesTheSameRow) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Event> ev = test::Lifecycle(rng, "s1");
    const SessionRow want = Merge(ev);
    for (int round = 0; round < 20; ++round) {
      std::shuffle(ev.begin(), ev.end(), rng);
      ASSERT_SAME_ROW(Merge(ev), want) << " seed " << seed << " round " << round;
    }
  }
}

TEST(SessionPropertyTest, SaveAndReloadBetweenEventsChangesNothing) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Event> ev = test::Lifecycle(rng, "s1");
    std::shuffle(ev.begin(), ev.end(), rng);
    const SessionRow want = Merge(ev);
    Result<SessionRow> reloaded = MergeWithReloads(ev);
    ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
    ASSERT_SAME_ROW(reloaded.value(), want) << " seed " << seed;
  }
}

TEST(SessionPropertyTest, PlatformFactsAreOrderIndependentAndSurviveReload) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Event> ev = PlatformLifecycle(rng);
    const SessionRow want = Merge(ev);
    for (int round = 0; round < 10; ++round) {
      std::shuffle(ev.begin(), ev.end(), rng);
      ASSERT_SAME_ROW(Merge(ev), want) << " seed " << seed << " round " << round;
    }
    Result<SessionRow> reloaded = MergeWithReloads(ev);
    ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
    ASSERT_SAME_ROW(reloaded.value(), want) << " seed " << seed;
  }
}

TEST(SessionTest, VersionOneMergeStateStillLoads) {
  // Written by sessionsink before schema 4: no platform facts.
  SessionRow row;
  row.id = "s1";
  row.kind = "play";
  row.desc[kServer] = "edge1";
  row.started_at = kT0;
  row.event_count = 2;
  row.last_event_at = kT0 + 2000;
  const std::string v1 = "1 1 1637094994000 1637094994000 " + std::string(11 * 2, ' ') +
                         "9223372036854775807 9223372036854775807 9223372036854775807 "
                         "9223372036854775807 9223372036854775807 9223372036854775807 "
                         "9223372036854775807 9223372036854775807 9223372036854775807 "
                         "9223372036854775807 9223372036854775807 "
                         "1 0 9223372036854775807 0 2 1637094995000 1 1637094996000 0";
  Result<Session> s = Session::FromStored(row, v1);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const SessionRow r = s->Row();
  EXPECT_EQ(r.state, "running");
  EXPECT_EQ(r.stall_count, 1);
  EXPECT_EQ(r.stalled_ms, 1000);
  EXPECT_EQ(r.platform, "flussonic");
  EXPECT_EQ(r.reconnect_count, 0);
  // Saved again, it is the current version and loads back to the same row.
  Result<Session> again = Session::FromStored(r, s->MergeState());
  ASSERT_TRUE(again.ok());
  EXPECT_SAME_ROW(again->Row(), r);
  EXPECT_EQ(s->MergeState().substr(0, 2), "3 ");
}

TEST(SessionTest, FlussonicEndClassFromTheCloseReason) {
  auto closed = [](std::optional<std::string> reason) {
    Event e = Ev("play_closed", Phase::kClosed, kT0);
    e.reason = std::move(reason);
    return Merge({Ev("play_started", Phase::kStarted, kT0 - 1000), e}).end_class.value_or("NULL");
  };
  EXPECT_EQ(closed(std::nullopt), "normal");
  EXPECT_EQ(closed("normal"), "normal");
  EXPECT_EQ(closed(R"({"reason":"session_limit"})"), "limit");
  EXPECT_EQ(closed("forbidden"), "denied");
  EXPECT_EQ(closed("kicked_by_admin"), "admin_kick");
  EXPECT_EQ(closed("timeout"), "idle_timeout");
  EXPECT_EQ(closed("client_closed"), "user_left");
  EXPECT_EQ(closed("tcp_reset"), "network");
  EXPECT_EQ(closed("shutdown"), "internal");
  EXPECT_EQ(closed(R"({"code":"bye"})"), "unknown");
  EXPECT_EQ(Merge({Ev("play_started", Phase::kStarted, kT0)}).end_class.value_or("NULL"), "NULL");
  EXPECT_EQ(Merge({Ev("play_denied", Phase::kDenied, kT0)}).end_class.value_or("NULL"), "denied");
  Session t("s1");
  t.Apply(Ev("play_started", Phase::kStarted, kT0), 1);
  t.CloseSynthetic(SyntheticClose::kSinkTimeout);
  EXPECT_EQ(t.Row().end_class.value_or("NULL"), "idle_timeout");
  Session r("s1");
  r.Apply(Ev("play_started", Phase::kStarted, kT0), 1);
  r.ApplyServerRestart(kT0 + 1);
  EXPECT_EQ(r.Row().end_class.value_or("NULL"), "internal");
}

TEST(SessionTest, EndClassAndRawReasonComeFromTheSameClose) {
  // Two closes: the earliest known class decides both columns.
  Event a = Ev("streampixel.disconnect", Phase::kClosed, kT0 + 1000);
  a.end_class = "capacity";
  a.raw_reason = "4001";
  Event b = Ev("streampixel.disconnect", Phase::kClosed, kT0 + 2000);
  b.end_class = "user_left";
  b.raw_reason = "1001";
  Event c = Ev("streampixel.stream-state", Phase::kClosed, kT0 + 500);
  c.end_class = "unknown";
  c.raw_reason = "failed";
  for (const auto& order :
       {std::vector<Event>{a, b, c}, std::vector<Event>{c, b, a}, std::vector<Event>{b, c, a}}) {
    const SessionRow r = Merge(order);
    EXPECT_EQ(r.end_class.value_or("NULL") + "/" + r.raw_reason.value_or("NULL"), "capacity/4001");
  }
}

TEST(SessionTest, CorruptMergeStateIsAnError) {
  SessionRow row;
  row.id = "s1";
  EXPECT_FALSE(Session::FromStored(row, "garbage").ok());
  EXPECT_FALSE(Session::FromStored(row, "2 0 0").ok());
}

}  // namespace
}  // namespace sink
