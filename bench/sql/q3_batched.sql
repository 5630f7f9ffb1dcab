-- Q3 as a dataloader sends it: the invoices (by the creator domain that
-- bookkeeping derives from the directory, migration 00030), then their
-- creators by id.
SELECT i.id, i.tenant_id, i.number, i.amount_minor, i.currency, i.issued_at, i.created_by_user_id, i.created_at
FROM bookkeeping.invoices i
WHERE i.created_by_email_domain = 'acme.com'
ORDER BY i.issued_at DESC, i.id DESC LIMIT 101;
SELECT u.id, u.tenant_id, u.idp_id, u.external_id, u.email, u.full_name, u.synced_at, u.created_at, u.updated_at, u.erased_at FROM directory.users u WHERE u.id = ANY(CAST(:q3_users AS uuid[]));
