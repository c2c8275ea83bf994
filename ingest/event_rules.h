// Rules every platform's events follow, whatever parser made them: the
// platform namespace of session ids, and the clock-skew bound on times.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/event.h"

namespace sink {

// Session ids of every platform but Flussonic start with the platform's
// name and a slash ("streampixel/<key>", "gamelift/<Arn>", "zego/…",
// "nginx-rtmp/…"): a session belongs to one platform, and an event from
// one platform's endpoint never lands in another's session. A Flussonic
// event (POST /events) whose id starts with one of these is rejected.
// The platform prefix ("<name>/", a name of store/platform.h other than
// Flussonic's) `id` starts with, or empty.
std::string_view PlatformIdPrefix(std::string_view id);

// One part of a composite session id, with '%' and '/' percent-encoded
// ("%25", "%2F"), so that parts joined with '/' after a fixed tag can be
// split back: two distinct tuples of parts never give the same id.
std::string IdPart(std::string_view part);

// Drops from `e` every time later than received_at + limits::kMaxClockSkewMs
// (utc_ms, opened/authorized/started/updated/closed_at): the event then
// counts as one without that time. True when it dropped one. Applied to
// every event of every endpoint, and again when the log is replayed (with
// the same receive time, so the outcome is the same).
bool DropFutureTimes(Event* e, int64_t received_at);

}  // namespace sink
