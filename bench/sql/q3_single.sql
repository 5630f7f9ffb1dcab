-- Q3 as one statement, for an internal caller (every tenant): the newest
-- 100 invoices created by acme.com users (101 fetched), with the creator.
SELECT i.id, i.tenant_id, i.number, i.amount_minor, i.currency, i.issued_at, i.created_by_user_id, i.created_at, u.id, u.email, u.full_name
FROM bookkeeping.invoices i JOIN directory.users u ON u.id = i.created_by_user_id
WHERE i.created_by_email_domain = 'acme.com'
ORDER BY i.issued_at DESC, i.id DESC LIMIT 101;
