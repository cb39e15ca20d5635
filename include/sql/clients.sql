-- Every client in the DMS, with what billing needs to know about it.
SELECT
    c.id          AS client_id,
    c.code        AS client_code,
    c.name        AS client_name,
    c.correspondence_email,
    c.account_manager_email,
    c.timezone
FROM clients c
ORDER BY c.code
