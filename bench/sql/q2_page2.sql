-- Q2, the next page: keyset after the 50th row of the first page.
SELECT u.id, u.tenant_id, u.idp_id, u.external_id, u.email, u.full_name, u.synced_at, u.created_at, u.updated_at, u.erased_at FROM directory.users u
WHERE u.tenant_id = :tenant AND u.email_domain = 'acme.com'
  AND (coalesce(u.email, ''), u.id) > (CAST(:q2_key AS text), CAST(:q2_id AS uuid))
ORDER BY coalesce(u.email, ''), u.id LIMIT 51;
