-- How many users the DMS holds for each client of a batch (reconciliation.sql says which of
-- them the snapshot leaves out, and why); a client without users has no row. Portable. Bound
-- parameter: client_ids (expanded to one bound value per client).
SELECT client_id, COUNT(*) AS source_users
FROM users
WHERE client_id IN :client_ids
GROUP BY client_id
