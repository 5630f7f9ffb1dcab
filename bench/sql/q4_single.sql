-- Q4 as one statement: the signed-in user and their contact.
SELECT u.id, u.tenant_id, u.idp_id, u.external_id, u.email, u.full_name, u.synced_at, u.created_at, u.updated_at, u.erased_at, c.id, c.tenant_id, c.user_id, c.full_name, c.email, c.phone, c.created_at, c.updated_at, c.erased_at
FROM directory.users u LEFT JOIN comms.contacts c ON c.user_id = u.id AND c.tenant_id = :tenant
WHERE u.id = CAST(:q4_user AS uuid) AND u.tenant_id = :tenant;
