-- How many users each client has, deleted ones included: the weight of a client's work when a
-- run is split into batches (a client without users has no row). One scan of ix_users_client.
SELECT client_id, COUNT(*) AS users
FROM users
GROUP BY client_id
