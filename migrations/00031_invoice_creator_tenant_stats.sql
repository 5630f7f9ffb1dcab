-- Bookkeeping: tell the planner that an invoice's creator decides its
-- tenant. Without it the planner multiplies the two selectivities and
-- expects about a tenth of a creator's invoices in the tenant, so for "each
-- creator's newest invoices in this tenant" (FindInvoicesByCreators, Q1's
-- last level) it reads every invoice of each creator and sorts them, rather
-- than walking invoices_creator_issued_idx in order up to the page: at 1M
-- invoices, with creators of several hundred invoices, 3 s cold against
-- 1 ms.

-- +goose Up
CREATE STATISTICS bookkeeping.invoices_creator_tenant (dependencies) ON created_by_user_id, tenant_id FROM bookkeeping.invoices;
ANALYZE bookkeeping.invoices;

-- +goose Down
DROP STATISTICS bookkeeping.invoices_creator_tenant;
