-- Q1 as one statement: the first 50 buildings of a tenant (51 fetched, the
-- extra row says whether a next page exists), their contacts, the contacts'
-- users and each user's newest 5 invoices (6 fetched).
SELECT b.id, b.name, bc.role, bc.is_primary, c.id, c.full_name,
       u.id, u.email, u.full_name,
       i.id, i.number, i.amount_minor, i.currency, i.issued_at
FROM (SELECT id, name FROM property.buildings WHERE tenant_id = :tenant ORDER BY name, id LIMIT 51) AS b
JOIN comms.building_contacts bc ON bc.building_id = b.id AND bc.tenant_id = :tenant
JOIN comms.contacts c ON c.id = bc.contact_id
LEFT JOIN directory.users u ON u.id = c.user_id AND u.tenant_id = :tenant
LEFT JOIN LATERAL (
    SELECT i.id, i.number, i.amount_minor, i.currency, i.issued_at FROM bookkeeping.invoices i
    WHERE i.created_by_user_id = u.id AND i.tenant_id = :tenant
    ORDER BY i.issued_at DESC, i.id DESC LIMIT 6
) AS i ON true
ORDER BY b.name, b.id, bc.is_primary DESC, coalesce(c.full_name, ''), c.id, i.issued_at DESC, i.id DESC;
