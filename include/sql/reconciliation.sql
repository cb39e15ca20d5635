-- Reconciliation for a batch of clients and their month: each user of those clients that user_facts.sql leaves
-- out of the snapshot, with what is needed to say why (source_users.sql counts them all).
-- The contract gives one reason to leave a user out: created at or after the month's end
-- (section 2). A user left out with a NULL created_at, or with a login or a status change
-- before the month's end (activity before the account was created), fails validation
-- (section 8). Portable: PostgreSQL, MySQL/MariaDB (SQLite: reconciliation.sqlite.sql).
--
-- Bound parameters as in user_facts.sql (client_ids, period_end). An index probe per client
-- (ix_users_client), and per user left out two on ix_logins_user_time and ix_status_changes_user.
SELECT
    u.client_id,
    u.id                                         AS user_id,
    u.created_at,
    CASE WHEN u.created_at IS NULL THEN 0 ELSE 1 END AS created_readable,
    CASE WHEN EXISTS (SELECT 1
                        FROM user_logins l
                       WHERE l.user_id = u.id
                         AND l.logged_in_at < :period_end)
         THEN 1 ELSE 0 END                       AS logged_in_before_end,
    CASE WHEN EXISTS (SELECT 1
                        FROM user_status_changes sc
                       WHERE sc.user_id = u.id
                         AND sc.changed_at < :period_end)
         THEN 1 ELSE 0 END                       AS status_changed_before_end
FROM users u
WHERE u.client_id IN :client_ids
  AND (u.created_at IS NULL OR u.created_at >= :period_end)
ORDER BY u.client_id, u.id
