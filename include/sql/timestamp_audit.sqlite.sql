-- SQLite only: every timestamp of one client's users that the billing rule compares
-- (users.created_at, users.deleted_at, user_status_changes.changed_at, user_logins.logged_in_at)
-- and that cannot be read as one UTC instant. Each row found fails the client's validation,
-- named by table, column, user id and value (contract section 8).
--
-- Why: SQLite stores timestamps as whatever was written. user_facts.sqlite.sql compares them
-- with julianday(), which gives no instant for some text (NULL) and a wrong one for other text:
-- it rolls an impossible date over ('2023-02-30' is 2 March) and reads '24:00' as the next
-- day; it reads integers and reals as day numbers. Readable here means:
--   stored as text, starting 'YYYY-MM-DD HH:MM:SS' (or 'T' between date and time),
--   a real date and time (it survives a round trip through julianday() unchanged),
--   then nothing, or a fraction of a second, then nothing, 'Z' or an offset '+HH:MM' / '-HH:MM',
--   and julianday() reads the whole (which also rules out offsets beyond ±14:59).
-- The common shape 'YYYY-MM-DD HH:MM:SS' on a day every month has skips the round trip, the
-- expensive part. A NULL created_at is left to reconciliation.sql.
--
-- Bound parameter: client_id.
WITH stamps (table_name, column_name, user_id, value) AS (
    SELECT 'users', 'created_at', u.id, u.created_at
      FROM users u
     WHERE u.client_id = :client_id
    UNION ALL
    SELECT 'users', 'deleted_at', u.id, u.deleted_at
      FROM users u
     WHERE u.client_id = :client_id
    UNION ALL
    SELECT 'user_status_changes', 'changed_at', sc.user_id, sc.changed_at
      FROM users u
      JOIN user_status_changes sc ON sc.user_id = u.id
     WHERE u.client_id = :client_id
    UNION ALL
    SELECT 'user_logins', 'logged_in_at', l.user_id, l.logged_in_at
      FROM users u
      JOIN user_logins l ON l.user_id = u.id
     WHERE u.client_id = :client_id
)
SELECT table_name, column_name, user_id, typeof(value) AS stored_type, CAST(value AS TEXT) AS value
  FROM stamps
 WHERE value IS NOT NULL
   AND NOT (
           typeof(value) = 'text'
       AND julianday(value) IS NOT NULL
       AND substr(value, 5, 1) = '-' AND substr(value, 8, 1) = '-' AND substr(value, 11, 1) IN (' ', 'T')
       AND substr(value, 14, 1) = ':' AND substr(value, 17, 1) = ':'
       AND (
               (length(value) = 19 AND substr(value, 11, 1) = ' '
                AND substr(value, 9, 2) <= '28' AND substr(value, 12, 2) < '24')
            OR (datetime(julianday(replace(substr(value, 1, 19), 'T', ' '))) = replace(substr(value, 1, 19), 'T', ' ')
                AND (CASE WHEN substr(value, 20, 1) = '.' THEN ltrim(substr(value, 21), '0123456789')
                          ELSE substr(value, 20) END IN ('', 'Z')
                     OR CASE WHEN substr(value, 20, 1) = '.' THEN ltrim(substr(value, 21), '0123456789')
                             ELSE substr(value, 20) END GLOB '[+-][0-9][0-9]:[0-9][0-9]'))
           )
       )
 ORDER BY table_name, column_name, user_id
