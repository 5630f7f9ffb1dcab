-- Q1 as a dataloader sends it: one statement per nesting level, each level's
-- keys passed as one array (the keys are those the previous level returns,
-- looked up by bench/run.sh before the run).
SELECT id, tenant_id, provider_id, name, address, created_at FROM property.buildings
WHERE tenant_id = :tenant ORDER BY name, id LIMIT 51;
SELECT bc.building_id, bc.contact_id, bc.tenant_id, bc.role, bc.is_primary, c.id, c.tenant_id, c.user_id, c.full_name, c.email, c.phone, c.created_at, c.updated_at, c.erased_at
FROM comms.building_contacts bc JOIN comms.contacts c ON c.id = bc.contact_id
WHERE bc.building_id = ANY(CAST(:q1_buildings AS uuid[])) AND bc.tenant_id = :tenant
ORDER BY bc.building_id, bc.is_primary DESC, coalesce(c.full_name, ''), c.id;
SELECT u.id, u.tenant_id, u.idp_id, u.external_id, u.email, u.full_name, u.synced_at, u.created_at, u.updated_at, u.erased_at FROM directory.users u
WHERE u.id = ANY(CAST(:q1_users AS uuid[])) AND u.tenant_id = :tenant;
SELECT i.id, i.tenant_id, i.number, i.amount_minor, i.currency, i.issued_at, i.created_by_user_id, i.created_at FROM unnest(CAST(:q1_users AS uuid[])) AS k (id)
CROSS JOIN LATERAL (
    SELECT i.id, i.tenant_id, i.number, i.amount_minor, i.currency, i.issued_at, i.created_by_user_id, i.created_at FROM bookkeeping.invoices i
    WHERE i.created_by_user_id = k.id AND i.tenant_id = :tenant
    ORDER BY i.issued_at DESC, i.id DESC LIMIT 6
) AS i;
