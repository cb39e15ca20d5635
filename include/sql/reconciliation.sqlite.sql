-- reconciliation.sql for SQLite: the users user_facts.sqlite.sql leaves out, compared by instant
-- in the same way (see the header of user_facts.sqlite.sql for how a comparison reads). A user
-- is left out when its created_at is not before the month's end: later, NULL, or unreadable
-- (julianday() NULL; timestamp_audit.sqlite.sql names it too).
--
-- Bound parameters as in user_facts.sqlite.sql (client_ids, period_end, end_prefilter).
SELECT
    u.client_id,
    u.id                                         AS user_id,
    u.created_at,
    julianday(u.created_at) IS NOT NULL          AS created_readable,
    EXISTS (SELECT 1
              FROM user_logins l
             WHERE l.user_id = u.id
               AND l.logged_in_at < :end_prefilter
               AND julianday(substr(l.logged_in_at, 1, 19) || ltrim(substr(l.logged_in_at, 20), '.0123456789')) < julianday(:period_end))
                                                 AS logged_in_before_end,
    EXISTS (SELECT 1
              FROM user_status_changes sc
             WHERE sc.user_id = u.id
               AND sc.changed_at < :end_prefilter
               AND julianday(substr(sc.changed_at, 1, 19) || ltrim(substr(sc.changed_at, 20), '.0123456789')) < julianday(:period_end))
                                                 AS status_changed_before_end
FROM users u
WHERE u.client_id IN :client_ids
  -- IS NOT 1: false or NULL, the exact complement of user_facts.sqlite.sql's condition
  AND (u.created_at < :end_prefilter
       AND julianday(substr(u.created_at, 1, 19) || ltrim(substr(u.created_at, 20), '.0123456789')) < julianday(:period_end)) IS NOT 1
ORDER BY u.client_id, u.id
