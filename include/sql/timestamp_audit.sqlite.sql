-- SQLite only: every timestamp of a batch of clients' users that the billing rule compares
-- (users.created_at, users.deleted_at, user_status_changes.changed_at, user_logins.logged_in_at)
-- and that cannot be read as one UTC instant. Each row found fails the client's validation,
-- named by table, column, user id and value (contract section 8).
--
-- Why: SQLite stores timestamps as whatever was written. user_facts.sqlite.sql compares them
-- with julianday(), which gives no instant for some text (NULL) and a wrong one for other text:
-- it rolls an impossible date over ('2023-02-30' is 2 March) and reads '24:00' as the next
-- day; it reads integers and reals as day numbers. Readable here means:
--   stored as text, starting 'YYYY-MM-DD HH:MM:SS' (or 'T' between date and time),
--   a real date and time (SQLite normalising it gives it back unchanged),
--   then nothing, or a fraction of a second, then nothing, 'Z' or an offset '+HH:MM' / '-HH:MM',
--   and julianday() reads the whole (which also rules out offsets beyond ±14:59).
-- The common shape 'YYYY-MM-DD HH:MM:SS' is settled by one comparison; only other text gets the
-- detailed checks. A NULL created_at is left to reconciliation.sql.
--
-- Bound parameter: client_ids (the batch's clients, expanded to one bound value each).
WITH stamps (client_id, table_name, column_name, user_id, value) AS (
    SELECT u.client_id, 'users', 'created_at', u.id, u.created_at
      FROM users u
     WHERE u.client_id IN :client_ids
    UNION ALL
    SELECT u.client_id, 'users', 'deleted_at', u.id, u.deleted_at
      FROM users u
     WHERE u.client_id IN :client_ids
    UNION ALL
    SELECT u.client_id, 'user_status_changes', 'changed_at', sc.user_id, sc.changed_at
      FROM users u
      JOIN user_status_changes sc ON sc.user_id = u.id
     WHERE u.client_id IN :client_ids
    UNION ALL
    SELECT u.client_id, 'user_logins', 'logged_in_at', l.user_id, l.logged_in_at
      FROM users u
      JOIN user_logins l ON l.user_id = u.id
     WHERE u.client_id IN :client_ids
)
SELECT client_id, table_name, column_name, user_id, typeof(value) AS stored_type, CAST(value AS TEXT) AS value
  FROM stamps
 WHERE value IS NOT NULL
   -- The common shape, cheaply: exactly the text SQLite writes for the instant it reads.
   AND value IS NOT datetime(value, '+0 seconds')
   AND NOT (
           typeof(value) = 'text'
       AND julianday(value) IS NOT NULL
       -- 'YYYY-MM-DD HH:MM:SS' (or with 'T') first, a real date and time: the modifier makes
       -- SQLite normalise, so '2023-02-30' comes back as '2023-03-02' (plain date() and
       -- datetime() give it back unchanged), '24:00:00' as the next day, 'now' as today
       AND datetime(replace(substr(value, 1, 19), 'T', ' '), '+0 seconds') = replace(substr(value, 1, 19), 'T', ' ')
       -- then nothing, 'Z' or an offset, after a fraction of a second or not
       AND (CASE WHEN substr(value, 20, 1) = '.' THEN ltrim(substr(value, 21), '0123456789')
                 ELSE substr(value, 20) END IN ('', 'Z')
            OR CASE WHEN substr(value, 20, 1) = '.' THEN ltrim(substr(value, 21), '0123456789')
                    ELSE substr(value, 20) END GLOB '[+-][0-9][0-9]:[0-9][0-9]')
       )
 ORDER BY client_id, table_name, column_name, user_id
