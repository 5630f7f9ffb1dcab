// Package model holds the GraphQL-only types: Relay connections and edges
// around the domain types, which the schema binds directly.
package model

import (
	"context"

	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/property"
)

// PageInfo says where a connection stands.
type PageInfo struct {
	HasNextPage     bool
	HasPreviousPage bool
	StartCursor     *string
	EndCursor       *string
}

// Counter counts every row that matches a connection's filter; it runs only
// when a client asks for totalCount.
type Counter func(ctx context.Context) (int, error)

// Edge is a node and its cursor.
type Edge[T any] struct {
	Cursor string
	Node   T
}

// Connection is a page of nodes.
type Connection[T any] struct {
	Edges    []*Edge[T]
	PageInfo *PageInfo
	count    Counter
}

// TotalCount counts every matching row.
func (c *Connection[T]) TotalCount(ctx context.Context) (int, error) { return c.count(ctx) }

// NewConnection builds a connection from one trimmed page of nodes.
func NewConnection[T any](nodes []T, more bool, cursor func(T) page.Cursor, count Counter) *Connection[T] {
	c := &Connection[T]{Edges: make([]*Edge[T], len(nodes)), PageInfo: &PageInfo{HasNextPage: more}, count: count}
	for i, n := range nodes {
		c.Edges[i] = &Edge[T]{Cursor: cursor(n).Encode(), Node: n}
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c
}

// The connections and edges of the schema.
type (
	// UserConnection is a page of users.
	UserConnection = Connection[*directory.User]
	// UserEdge is a user and its cursor.
	UserEdge = Edge[*directory.User]
	// BuildingConnection is a page of buildings.
	BuildingConnection = Connection[*property.Building]
	// BuildingEdge is a building and its cursor.
	BuildingEdge = Edge[*property.Building]
	// ContactConnection is a page of contacts.
	ContactConnection = Connection[*comms.Contact]
	// ContactEdge is a contact and its cursor.
	ContactEdge = Edge[*comms.Contact]
	// InvoiceConnection is a page of invoices.
	InvoiceConnection = Connection[*bookkeeping.Invoice]
	// InvoiceEdge is an invoice and its cursor.
	InvoiceEdge = Edge[*bookkeeping.Invoice]
)
