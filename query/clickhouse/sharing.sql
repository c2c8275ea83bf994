-- sharing on ClickHouse: the same report as query/sql/sharing.sql (users
-- whose plays overlap in time from different networks — the /24 of an IPv4
-- address, the /64 of an IPv6 one — or, with --limit N, whose most plays at
-- one instant exceed N), over {db}.sessions FINAL. The pairs come from a
-- self-join per user; the most plays at once from each user's starts and
-- ends sorted (ends first at an instant) and summed.
--
-- Parameters: {from}, {to}, {now}, {limit} and {has_limit}, {filters}, {db}
-- (`sessionsink report --clickhouse`).
SELECT usr AS user_id, plays, networks, pairs_n AS overlapping_pairs,
       round(overlap_ms / 1000.0, 3) AS overlap_s, max_concurrent
FROM (
  SELECT usr, toInt64(count()) AS plays, toInt64(uniqExact(net)) AS networks,
         groupArrayArray(arrayFilter(e -> b > a, [(a, toInt64(1)), (b, toInt64(-1))])) AS ch,
         if(empty(ch), 0, arrayReduce('max', arrayCumSum(arrayMap(e -> e.2, arraySort(ch)))))
           AS max_concurrent
  FROM (
      SELECT id, assumeNotNull(user_id) AS usr, started_at AS a0, assumeNotNull(a0) AS a,
             coalesce(closed_at, {now}) AS b,
             if(isNull(ip) OR ip = '', ip,
                if(match(assumeNotNull(ip), '^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$'),
                   concat(IPv4NumToString(bitAnd(IPv4StringToNum(assumeNotNull(ip)), 4294967040)), '/24'),
                   if(position(assumeNotNull(ip), ':') > 0
                      AND IPv6StringToNum(assumeNotNull(ip)) != toFixedString('', 16),
                      concat(hex(substring(IPv6StringToNum(assumeNotNull(ip)), 1, 8)), '/64'),
                      ip))) AS net
      FROM {db}.sessions FINAL
      WHERE kind = 'play' AND isNotNull(user_id) AND isNotNull(started_at)
        AND coalesce(opened_at, first_event_at) >= {from}
        AND coalesce(opened_at, first_event_at) < {to}
        AND {filters}
  )
  GROUP BY usr
)
ANY LEFT JOIN (
  SELECT usr, toInt64(count()) AS pairs_n, sum(least(b1, b2) - greatest(a1, a2)) AS overlap_ms
  FROM (
    SELECT usr, id AS id1, net AS net1, a AS a1, b AS b1
    FROM (
      SELECT id, assumeNotNull(user_id) AS usr, started_at AS a0, assumeNotNull(a0) AS a,
             coalesce(closed_at, {now}) AS b,
             if(isNull(ip) OR ip = '', ip,
                if(match(assumeNotNull(ip), '^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$'),
                   concat(IPv4NumToString(bitAnd(IPv4StringToNum(assumeNotNull(ip)), 4294967040)), '/24'),
                   if(position(assumeNotNull(ip), ':') > 0
                      AND IPv6StringToNum(assumeNotNull(ip)) != toFixedString('', 16),
                      concat(hex(substring(IPv6StringToNum(assumeNotNull(ip)), 1, 8)), '/64'),
                      ip))) AS net
      FROM {db}.sessions FINAL
      WHERE kind = 'play' AND isNotNull(user_id) AND isNotNull(started_at)
        AND coalesce(opened_at, first_event_at) >= {from}
        AND coalesce(opened_at, first_event_at) < {to}
        AND {filters}
    )
  )
  ALL INNER JOIN (
    SELECT usr, id AS id2, net AS net2, a AS a2, b AS b2
    FROM (
      SELECT id, assumeNotNull(user_id) AS usr, started_at AS a0, assumeNotNull(a0) AS a,
             coalesce(closed_at, {now}) AS b,
             if(isNull(ip) OR ip = '', ip,
                if(match(assumeNotNull(ip), '^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$'),
                   concat(IPv4NumToString(bitAnd(IPv4StringToNum(assumeNotNull(ip)), 4294967040)), '/24'),
                   if(position(assumeNotNull(ip), ':') > 0
                      AND IPv6StringToNum(assumeNotNull(ip)) != toFixedString('', 16),
                      concat(hex(substring(IPv6StringToNum(assumeNotNull(ip)), 1, 8)), '/64'),
                      ip))) AS net
      FROM {db}.sessions FINAL
      WHERE kind = 'play' AND isNotNull(user_id) AND isNotNull(started_at)
        AND coalesce(opened_at, first_event_at) >= {from}
        AND coalesce(opened_at, first_event_at) < {to}
        AND {filters}
    )
  ) USING usr
  WHERE id1 < id2 AND ifNull(net1 = net2, isNull(net1) AND isNull(net2)) = 0
    AND a1 < b2 AND a2 < b1
  GROUP BY usr
) USING usr
WHERE ({has_limit} = 0 AND pairs_n > 0) OR ({has_limit} = 1 AND max_concurrent > {limit})
ORDER BY overlap_s DESC, max_concurrent DESC, user_id
