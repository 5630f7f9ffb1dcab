// Package model holds the GraphQL-only types: Relay connections and edges
// around the domain types, which the schema binds directly.
package model

import (
	"context"

	"github.com/propertyportal/gateway/internal/page"
)

// PageInfo says where a connection stands. Its cursors are sealed only
// when a client reads them.
type PageInfo struct {
	HasNextPage     bool
	HasPreviousPage bool
	first, last     func() string // nil without edges
}

// StartCursor is the cursor of the first edge; nil without edges.
func (p *PageInfo) StartCursor() *string { return call(p.first) }

// EndCursor is the cursor of the last edge; nil without edges.
func (p *PageInfo) EndCursor() *string { return call(p.last) }

func call(f func() string) *string {
	if f == nil {
		return nil
	}
	s := f()
	return &s
}

// Counter counts every row that matches a connection's filter; it runs only
// when a client asks for totalCount.
type Counter func(ctx context.Context) (int, error)

// Edge is a node and its cursor.
type Edge[T any] struct {
	Node   T
	cursor func(T) string
}

// Cursor is the edge's sealed cursor, sealed when a client reads it.
func (e *Edge[T]) Cursor() string { return e.cursor(e.Node) }

// Connection is a page of nodes.
type Connection[T any] struct {
	Edges    []*Edge[T]
	PageInfo *PageInfo
	count    Counter
}

// TotalCount counts every matching row.
func (c *Connection[T]) TotalCount(ctx context.Context) (int, error) { return c.count(ctx) }

// NewConnection builds a connection from one page of nodes that req asked
// for, trimmed (page.Trim, which said whether more follow); cursor gives a
// node's sealed cursor.
func NewConnection[T any](nodes []T, req page.Request, more bool, cursor func(T) string, count Counter) *Connection[T] {
	prev, next := req.Sides(more)
	c := &Connection[T]{Edges: make([]*Edge[T], len(nodes)), PageInfo: &PageInfo{HasNextPage: next, HasPreviousPage: prev}, count: count}
	edges := make([]Edge[T], len(nodes))
	for i, n := range nodes {
		edges[i] = Edge[T]{Node: n, cursor: cursor}
		c.Edges[i] = &edges[i]
	}
	if len(c.Edges) > 0 {
		c.PageInfo.first, c.PageInfo.last = c.Edges[0].Cursor, c.Edges[len(c.Edges)-1].Cursor
	}
	return c
}

// The connections and edges of the schema.
type (
	// UserConnection is a page of users.
	UserConnection = Connection[*User]
	// UserEdge is a user and its cursor.
	UserEdge = Edge[*User]
	// BuildingConnection is a page of buildings.
	BuildingConnection = Connection[*Building]
	// BuildingEdge is a building and its cursor.
	BuildingEdge = Edge[*Building]
	// ContactConnection is a page of contacts.
	ContactConnection = Connection[*Contact]
	// ContactEdge is a contact and its cursor.
	ContactEdge = Edge[*Contact]
	// InvoiceConnection is a page of invoices.
	InvoiceConnection = Connection[*Invoice]
	// InvoiceEdge is an invoice and its cursor.
	InvoiceEdge = Edge[*Invoice]
)
