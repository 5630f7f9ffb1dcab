package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/node"
	"github.com/propertyportal/gateway/internal/page"
)

// nodes answers Query.nodes, and Query.node for one id: the objects of ids,
// in their order, nil for an id that names nothing the caller sees. The
// objects of every id, of any kind, come from one statement (one per
// database when comms has its own: KindsByID, node.Store), read as the
// typed lookups read them (user(id), building(id), ...) and kept by their
// loaders, so that each kind's batch below costs nothing; then each kind is
// planned below like any other level, so tenancy and PII are the typed
// lookups' own. The cost is one statement for the objects and one per
// level below, whatever the number of ids.
func (r *Resolver) nodes(ctx context.Context, ids []uuid.UUID) ([]model.Node, error) {
	if limit := r.maxIDs(); len(ids) > limit {
		return nil, apperr.InvalidField("ids", "nodes takes at most %d ids", limit)
	}
	p, err := r.plannerFor(ctx)
	if err != nil {
		return nil, err
	}
	kinds, err := p.l.KindsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	var of [node.Invoice + 1][]uuid.UUID
	seen := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		if k := kinds[id]; k != node.None && !seen[id] {
			seen[id] = true
			of[k] = append(of[k], id)
		}
	}
	found := make(map[uuid.UUID]model.Node, len(seen))
	if err := nodesOf(ctx, p, "User", of[node.User], (*loader.Loaders).UsersByID, (*planner).user, found); err != nil {
		return nil, err
	}
	if err := nodesOf(ctx, p, "Contact", of[node.Contact], (*loader.Loaders).ContactsByID, (*planner).contact, found); err != nil {
		return nil, err
	}
	if err := nodesOf(ctx, p, "Building", of[node.Building], (*loader.Loaders).BuildingsByID, (*planner).building, found); err != nil {
		return nil, err
	}
	if err := nodesOf(ctx, p, "Invoice", of[node.Invoice], (*loader.Loaders).InvoicesByID, (*planner).invoice, found); err != nil {
		return nil, err
	}
	out := make([]model.Node, len(ids))
	for i, id := range ids {
		out[i] = found[id] // a nil interface, not a nil pointer, for an id not found
	}
	return out, nil
}

// nodesOf loads the objects of one kind, all of ids in one batch, plans
// what the operation selects on their type, and puts them in found.
func nodesOf[D any, N model.Node](ctx context.Context, p *planner, typ string, ids []uuid.UUID,
	find func(*loader.Loaders, context.Context, []uuid.UUID) (map[uuid.UUID]*D, error), wrap func(*planner, *D) N,
	found map[uuid.UUID]model.Node,
) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := find(p.l, ctx, ids)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(ids))
	for _, id := range ids {
		if d := rows[id]; d != nil {
			n := wrap(p, d)
			found[id] = n
			items = append(items, n)
		}
	}
	return p.plan(typ, items, p.selected(typ))
}

// maxIDs is the most ids nodes takes: the cap on a page (MAX_PAGE_SIZE), as
// nodes of n ids costs what a page of n objects does.
func (r *Resolver) maxIDs() int {
	if r.MaxPage > 0 {
		return r.MaxPage
	}
	return page.DefaultMax
}
