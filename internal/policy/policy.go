// Package policy decides which PII a caller may see. It is the one place
// those rules live: the schema marks PII fields with @pii and graph's
// directive asks this package. It reads through the request's loaders, so a
// check costs no statement per row, and it never returns the PII it guards.
//
// The rules (DESIGN.md, "Privacy"):
//   - admin: all PII of its own tenant (stores already hide other tenants).
//   - internal service account: all PII, across tenants, for the joins.
//   - provider: names; emails and phone numbers only of itself and of the
//     contacts of buildings it is a contact of (and of the users linked to
//     those contacts).
//
// Filtering, searching and ordering on a kind of PII answer questions about
// its values ("is there a user at acme.com?"), so they are allowed only to
// the roles that see that kind on every row: CanFilter.
package policy

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/loader"
)

// Kind is a kind of PII.
type Kind string

// The kinds of PII.
const (
	Email Kind = "EMAIL"
	Name  Kind = "NAME"
	Phone Kind = "PHONE"
)

// ErrForbidden is what a denied field answers.
var ErrForbidden = apperr.E(apperr.Forbidden, "not allowed to see this field")

// broad reports whether the scope sees every PII field of what it can read.
func broad(s access.Scope, k Kind) bool {
	return s.Role == access.RoleAdmin || s.Role == access.RoleInternal || k == Name
}

// words name the kinds in messages.
var words = map[Kind]string{Email: "email", Name: "name", Phone: "phone"}

// CanFilter returns nil when s may filter, search or order by field, which
// compares values of the given kinds: only a scope that sees those kinds on
// every row it can read may. Otherwise it is Forbidden naming field, before
// anything runs.
func CanFilter(s access.Scope, field string, kinds ...Kind) error {
	var denied []string
	for _, k := range kinds {
		if !broad(s, k) {
			denied = append(denied, words[k])
		}
	}
	if len(denied) == 0 {
		return nil
	}
	return &apperr.Error{Kind: apperr.Forbidden, Field: field,
		Message: field + " compares " + strings.Join(denied, " and ") + " values, which this caller may not read on every row"}
}

// CanSeeUser reports whether s may see PII of kind k on user u.
func CanSeeUser(ctx context.Context, s access.Scope, u *directory.User, k Kind) (bool, error) {
	if broad(s, k) || (s.UserID != uuid.Nil && u.ID == s.UserID) {
		return true, nil
	}
	l := loader.For(ctx)
	if l == nil {
		return false, nil
	}
	c, err := l.ContactByUser.Load(ctx, u.ID)()
	if err != nil || c == nil {
		return false, err
	}
	return CanSeeContact(ctx, s, c, k)
}

// CanSeeContact reports whether s may see PII of kind k on contact c.
func CanSeeContact(ctx context.Context, s access.Scope, c *comms.Contact, k Kind) (bool, error) {
	if broad(s, k) || (c.UserID != nil && s.UserID != uuid.Nil && *c.UserID == s.UserID) {
		return true, nil
	}
	l := loader.For(ctx)
	if l == nil {
		return false, nil
	}
	mine, err := l.BuildingsOfCaller(ctx)
	if err != nil || len(mine) == 0 {
		return false, err
	}
	links, err := l.LinksByContact.Load(ctx, c.ID)()
	if err != nil {
		return false, err
	}
	for _, link := range links {
		if mine[link.BuildingID] {
			return true, nil
		}
	}
	return false, nil
}
