-- Q4 as a dataloader sends it: the user by id, then the contact by user.
SELECT u.id, u.tenant_id, u.idp_id, u.external_id, u.email, u.full_name, u.synced_at, u.created_at, u.updated_at, u.erased_at FROM directory.users u
WHERE u.id = ANY(CAST(:q4_users AS uuid[])) AND u.tenant_id = :tenant;
SELECT c.id, c.tenant_id, c.user_id, c.full_name, c.email, c.phone, c.created_at, c.updated_at, c.erased_at FROM comms.contacts c
WHERE c.user_id = ANY(CAST(:q4_users AS uuid[])) AND c.tenant_id = :tenant;
