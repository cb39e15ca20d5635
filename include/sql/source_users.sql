-- How many users the DMS holds for one client (reconciliation.sql says which of them the
-- snapshot leaves out, and why). Portable. Bound parameter: client_id.
SELECT COUNT(*) AS source_users
FROM users
WHERE client_id = :client_id
