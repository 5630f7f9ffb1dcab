-- Q2, first page: 50 users of a tenant at acme.com by email (51 fetched).
SELECT u.id, u.tenant_id, u.idp_id, u.external_id, u.email, u.full_name, u.synced_at, u.created_at, u.updated_at, u.erased_at FROM directory.users u
WHERE u.tenant_id = :tenant AND u.email_domain = 'acme.com'
ORDER BY coalesce(u.email, ''), u.id LIMIT 51;
