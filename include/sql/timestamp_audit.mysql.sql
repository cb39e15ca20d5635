-- MySQL/MariaDB only: every timestamp of a batch of clients' users that the billing rule
-- compares (users.created_at, users.deleted_at, user_status_changes.changed_at,
-- user_logins.logged_in_at) and that is a zero date or has a zero month or day
-- ('0000-00-00 00:00:00', '2023-00-15 ...'). Each row found fails the client's validation,
-- named by table, column, user id and value (contract section 8).
--
-- Why: a server in non-strict mode (sql_mode without NO_ZERO_DATE and NO_ZERO_IN_DATE) stores
-- such a value instead of refusing it. It names no instant, yet it is not NULL: the database
-- compares it as earlier than any date, and the driver hands it over as text that reads as no
-- timestamp, so a zero deleted_at would read as "not deleted". Casting to text reads the value
-- whatever the session's sql_mode.
--
-- Bound parameter: client_ids (the batch's clients, expanded to one bound value each).
SELECT client_id, table_name, column_name, user_id, 'zero date' AS stored_type, value
  FROM (
        SELECT u.client_id, 'users' AS table_name, 'created_at' AS column_name, u.id AS user_id,
               CAST(u.created_at AS CHAR) AS value
          FROM users u
         WHERE u.client_id IN :client_ids
        UNION ALL
        SELECT u.client_id, 'users', 'deleted_at', u.id, CAST(u.deleted_at AS CHAR)
          FROM users u
         WHERE u.client_id IN :client_ids
        UNION ALL
        SELECT u.client_id, 'user_status_changes', 'changed_at', sc.user_id, CAST(sc.changed_at AS CHAR)
          FROM users u
          JOIN user_status_changes sc ON sc.user_id = u.id
         WHERE u.client_id IN :client_ids
        UNION ALL
        SELECT u.client_id, 'user_logins', 'logged_in_at', l.user_id, CAST(l.logged_in_at AS CHAR)
          FROM users u
          JOIN user_logins l ON l.user_id = u.id
         WHERE u.client_id IN :client_ids
       ) stamps
 WHERE value LIKE '0000-%' OR value LIKE '_____00-%' OR value LIKE '________-00%'
 ORDER BY client_id, table_name, column_name, user_id
