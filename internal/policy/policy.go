// Package policy decides which PII a caller may see, and so what it may
// filter, search and order by. It is the one place those rules live: the
// schema marks PII fields with @pii, the planner asks this package once per
// level for the sight of each object, and graph's directive reads that
// sight. It reads through the request's loaders, so a level costs at most
// one statement, and it never returns the PII it guards.
//
// Filtering, searching and ordering on a kind of PII answer questions about
// its values ("is there a user at acme.com?"), so they are allowed only to
// the roles that see that kind on every row: CanFilter.
//
// The rules (DESIGN.md, "Privacy"):
//   - admin: all PII of its own tenant (stores already hide other tenants).
//   - internal service account: all PII, across tenants, for the joins.
//   - provider: names; emails and phone numbers only of itself and of the
//     contacts of buildings it is a contact of (and of the users linked to
//     those contacts).
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

// Sight is what PII of one object the caller may read, decided once per
// object for a whole level (see UserSights and ContactSights). Names are
// always readable; the zero Sight reads names only.
type Sight uint8

// The kinds a Sight may add to names.
const (
	SeeEmail Sight = 1 << iota
	SeePhone
	SeeAll = SeeEmail | SeePhone
)

// Allows reports whether the sight reads PII of kind k.
func (s Sight) Allows(k Kind) bool {
	switch k {
	case Name:
		return true
	case Email:
		return s&SeeEmail != 0
	case Phone:
		return s&SeePhone != 0
	}
	return false
}

// Broad reports whether s reads every PII field of every row it can see:
// admins and internal service accounts do; a provider reads names only,
// beyond its own and its buildings' people.
func Broad(s access.Scope) bool {
	return s.Role == access.RoleAdmin || s.Role == access.RoleInternal
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
		if !Broad(s) && k != Name {
			denied = append(denied, words[k])
		}
	}
	if len(denied) == 0 {
		return nil
	}
	return &apperr.Error{Kind: apperr.Forbidden, Field: field,
		Message: field + " compares " + strings.Join(denied, " and ") + " values, which this caller may not read on every row"}
}

// ContactSights returns the sight of s on each contact of cs: all of its
// PII for broad scopes, for the caller's own contact and for the contacts of
// the buildings the caller is a contact of; names only otherwise. It loads
// the contacts' links (one statement for the level) only when it must.
func ContactSights(ctx context.Context, s access.Scope, l *loader.Loaders, cs []*comms.Contact) (map[uuid.UUID]Sight, error) {
	out := make(map[uuid.UUID]Sight, len(cs))
	var undecided []uuid.UUID
	for _, c := range cs {
		switch {
		case Broad(s), c.UserID != nil && s.UserID != uuid.Nil && *c.UserID == s.UserID:
			out[c.ID] = SeeAll
		default:
			undecided = append(undecided, c.ID)
		}
	}
	if len(undecided) == 0 || s.UserID == uuid.Nil {
		return out, nil
	}
	mine, err := l.BuildingsOfCaller(ctx)
	if err != nil || len(mine) == 0 {
		return out, err
	}
	links, err := l.LinksByContact(ctx, undecided)
	if err != nil {
		return nil, err
	}
	for _, id := range undecided {
		for _, link := range links[id] {
			if mine[link.BuildingID] {
				out[id] = SeeAll
				break
			}
		}
	}
	return out, nil
}

// UserSights returns the sight of s on each user of us: all of its PII for
// broad scopes and for the caller itself; otherwise the sight on the user's
// contact, as ContactSights decides it.
func UserSights(ctx context.Context, s access.Scope, l *loader.Loaders, us []*directory.User) (map[uuid.UUID]Sight, error) {
	out := make(map[uuid.UUID]Sight, len(us))
	var undecided []uuid.UUID
	for _, u := range us {
		if Broad(s) || (s.UserID != uuid.Nil && u.ID == s.UserID) {
			out[u.ID] = SeeAll
		} else {
			undecided = append(undecided, u.ID)
		}
	}
	if len(undecided) == 0 || s.UserID == uuid.Nil {
		return out, nil
	}
	contacts, err := l.ContactsByUser(ctx, undecided)
	if err != nil {
		return nil, err
	}
	var cs []*comms.Contact
	for _, id := range undecided {
		if c := contacts[id]; c != nil {
			cs = append(cs, c)
		}
	}
	sights, err := ContactSights(ctx, s, l, cs)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out[*c.UserID] = sights[c.ID]
	}
	return out, nil
}
