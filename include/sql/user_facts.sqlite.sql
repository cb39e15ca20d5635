-- user_facts.sql for SQLite: the same rows, with every timestamp compared by the instant it names.
--
-- Why a variant: SQLite has no timestamp type and compares stored timestamps as text, so a
-- row written '2023-10-31T10:00:00' or '2023-10-31 23:00:00+06:00' sorts after the bound
-- '2023-10-31 18:00:00' on the closing day, and a login in the month would not count. Here
-- every compared timestamp goes through julianday(), which reads 'T', fractional seconds,
-- 'Z' and '+HH:MM' offsets and converts them to UTC (text without an offset is UTC wall time,
-- contract section 1). Values julianday() cannot read, or reads wrongly (SQLite rolls
-- '2023-02-30' over to 2 March), fail validation through timestamp_audit.sqlite.sql.
--
-- How a comparison "x before the bound" reads (x a stored timestamp; both conditions needed):
--   x < end_prefilter         text, so that the contract's indexes still narrow the rows: a date
--                             two days past the bound, as an offset is under a day and the text
--                             starts with the local date
--   julianday(substr(x, 1, 19) || ltrim(substr(x, 20), '.0123456789')) < julianday(period_end)
--                             the instant, to the second: x without its fraction of a second,
--                             because julianday() rounds that to the millisecond (17:59:59.9999
--                             would equal 18:00:00); the bounds are whole seconds, so x is
--                             before one exactly when its second is
-- "x at or after the bound" reads the same way with >=. The latest value is picked with
-- ORDER BY julianday(x) and returned as stored; Python parses it (ISO 8601, offsets to UTC).
--
-- The latest and earliest login are looked for only where they can be. Text order is the order
-- of instants to within an offset (under 15 hours: julianday() reads no larger one), so the
-- latest instant lies at most two days before the latest text date: one index probe finds that
-- date (MAX of the text), and only the rows from two days before it on are read. For the latest
-- login before the end, that date is the latest among logins surely before the end (text before
-- near_end), and every row from there to end_prefilter is compared exactly. Reading all of a
-- user's logins instead took four times as long (docs/benchmarks.md).
--
-- Bound parameters (not written with their colon here: drivers would count it as a parameter):
--   client_ids, period_end, login_start  as in user_facts.sql
--   end_prefilter                        the date two days after period_end, 'YYYY-MM-DD'
--   start_prefilter                      the date two days before login_start, 'YYYY-MM-DD'
--   near_end                             the UTC date of period_end less a day, 'YYYY-MM-DD'
SELECT
    u.client_id,
    u.id                                   AS user_id,
    u.username,
    u.full_name,
    u.role,
    u.status                               AS current_status,
    u.created_at,
    u.deleted_at,
    -- The latest status change before the month's end (h, joined below).
    h.status                               AS history_status,
    h.changed_at                           AS history_changed_at,
    -- Latest login before the month's end, in any month.
    -- Only the rows that can hold it are read (see the header).
    (SELECT l.logged_in_at
       FROM user_logins l
      WHERE l.user_id = u.id
        AND l.logged_in_at >= COALESCE((SELECT date(substr(MAX(m.logged_in_at), 1, 10), '-2 days')
                                          FROM user_logins m
                                         WHERE m.user_id = u.id
                                           AND m.logged_in_at < :near_end), :near_end)
        AND l.logged_in_at < :end_prefilter
        AND julianday(substr(l.logged_in_at, 1, 19) || ltrim(substr(l.logged_in_at, 20), '.0123456789')) < julianday(:period_end)
      ORDER BY julianday(l.logged_in_at) DESC
      LIMIT 1)                             AS last_login_at,
    (SELECT COUNT(*)
       FROM user_logins l
      WHERE l.user_id = u.id
        AND l.logged_in_at >= :start_prefilter
        AND l.logged_in_at < :end_prefilter
        AND julianday(substr(l.logged_in_at, 1, 19) || ltrim(substr(l.logged_in_at, 20), '.0123456789')) >= julianday(:login_start)
        AND julianday(substr(l.logged_in_at, 1, 19) || ltrim(substr(l.logged_in_at, 20), '.0123456789')) < julianday(:period_end))
                                           AS logins_in_month,
    -- Data-quality facts, checked by validation only.
    (SELECT l.logged_in_at
       FROM user_logins l
      WHERE l.user_id = u.id
        AND l.logged_in_at < (SELECT date(substr(MIN(m.logged_in_at), 1, 10), '+3 days')
                                FROM user_logins m
                               WHERE m.user_id = u.id)
      ORDER BY julianday(l.logged_in_at)
      LIMIT 1)                             AS first_login_at,
    (SELECT l.logged_in_at
       FROM user_logins l
      WHERE l.user_id = u.id
        AND l.logged_in_at >= (SELECT date(substr(MAX(m.logged_in_at), 1, 10), '-2 days')
                                 FROM user_logins m
                                WHERE m.user_id = u.id)
      ORDER BY julianday(l.logged_in_at) DESC
      LIMIT 1)                             AS newest_login_at,
    (SELECT sc.changed_at
       FROM user_status_changes sc
      WHERE sc.user_id = u.id
      ORDER BY julianday(sc.changed_at) DESC
      LIMIT 1)                             AS newest_status_change_at
FROM users u
-- The latest status change before the month's end; on equal times the highest id wins.
LEFT JOIN user_status_changes h
       ON h.id = (SELECT sc.id
                    FROM user_status_changes sc
                   WHERE sc.user_id = u.id
                     AND sc.changed_at < :end_prefilter
                     AND julianday(substr(sc.changed_at, 1, 19) || ltrim(substr(sc.changed_at, 20), '.0123456789'))
                         < julianday(:period_end)
                   ORDER BY julianday(sc.changed_at) DESC, sc.id DESC
                   LIMIT 1)
WHERE u.client_id IN :client_ids
  AND u.created_at < :end_prefilter
  AND julianday(substr(u.created_at, 1, 19) || ltrim(substr(u.created_at, 20), '.0123456789')) < julianday(:period_end)
ORDER BY u.client_id, u.id
