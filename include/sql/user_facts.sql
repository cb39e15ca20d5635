-- One row per user of a batch of clients who exists before the billing month ends: who the user is,
-- the status in force at the month's end according to the status history, and the login
-- facts the billing rule needs, computed here so that only one row per user leaves the
-- database (contract section 2). Portable: SQLite, PostgreSQL, MySQL/MariaDB.
--
-- Bound parameters (timestamps as UTC text 'YYYY-MM-DD HH:MM:SS'; not written with their
-- colon here, because drivers would count a colon-name in a comment as a parameter):
--   client_ids   clients.id of the batch's clients (expanded to one bound value each)
--   period_end   first instant after the month, local midnight in the client's timezone
--   login_start  first instant whose logins count (the month's start; 16 April in April 2023)
--
-- Every subquery is an index probe on ix_status_changes_user or ix_logins_user_time.
SELECT
    u.client_id,
    u.id                                   AS user_id,
    u.username,
    u.full_name,
    u.role,
    u.status                               AS current_status,
    u.created_at,
    u.deleted_at,
    -- The latest status change before the month's end; on equal times the highest id wins.
    (SELECT sc.status
       FROM user_status_changes sc
      WHERE sc.user_id = u.id
        AND sc.changed_at < :period_end
      ORDER BY sc.changed_at DESC, sc.id DESC
      LIMIT 1)                             AS history_status,
    (SELECT MAX(sc.changed_at)
       FROM user_status_changes sc
      WHERE sc.user_id = u.id
        AND sc.changed_at < :period_end)   AS history_changed_at,
    -- Latest login before the month's end, in any month.
    (SELECT MAX(l.logged_in_at)
       FROM user_logins l
      WHERE l.user_id = u.id
        AND l.logged_in_at < :period_end)  AS last_login_at,
    (SELECT COUNT(*)
       FROM user_logins l
      WHERE l.user_id = u.id
        AND l.logged_in_at >= :login_start
        AND l.logged_in_at < :period_end)  AS logins_in_month,
    -- Data-quality facts, checked by validation only.
    (SELECT MIN(l.logged_in_at)
       FROM user_logins l
      WHERE l.user_id = u.id)              AS first_login_at,
    (SELECT MAX(l.logged_in_at)
       FROM user_logins l
      WHERE l.user_id = u.id)              AS newest_login_at,
    (SELECT MAX(sc.changed_at)
       FROM user_status_changes sc
      WHERE sc.user_id = u.id)             AS newest_status_change_at
FROM users u
WHERE u.client_id IN :client_ids
  AND u.created_at < :period_end
ORDER BY u.client_id, u.id
