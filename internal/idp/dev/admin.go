package dev

import (
	"context"
	"net/http"
	"sync"

	"github.com/propertyportal/gateway/internal/idp"
)

// Admin is the dev IdP's admin side: an in-memory identity store that
// accepts updates, reads and deletes, so identity updates work in `gateway
// dev` without a real provider. An update of an identity it has not seen
// creates it (the dev users live in the seeded directory, not here).
type Admin struct {
	mu    sync.Mutex
	users map[string]idp.Profile
}

// NewAdmin makes an empty dev admin store.
func NewAdmin() *Admin { return &Admin{users: map[string]idp.Profile{}} }

func devNotFound() error {
	return &idp.AdminError{Kind: idp.Permanent, Status: http.StatusNotFound, Reason: "the identity provider does not know this user (status 404)"}
}

func copyProfile(p idp.Profile) *idp.Profile {
	cp := p
	if p.Email != nil {
		e := *p.Email
		cp.Email = &e
	}
	if p.FullName != nil {
		n := *p.FullName
		cp.FullName = &n
	}
	return &cp
}

// UpdateUser stores the set fields of u for externalID.
func (a *Admin) UpdateUser(ctx context.Context, externalID string, u idp.ProfileUpdate) (*idp.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, idp.TransportError("update user", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.users[externalID]
	p.ExternalID = externalID
	if u.Email != nil {
		e := *u.Email
		p.Email = &e
	}
	if u.FullName != nil {
		n := *u.FullName
		p.FullName = &n
	}
	a.users[externalID] = p
	return copyProfile(p), nil
}

// GetUser returns the stored identity; Permanent 404 when there is none.
func (a *Admin) GetUser(ctx context.Context, externalID string) (*idp.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, idp.TransportError("read user", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.users[externalID]
	if !ok {
		return nil, devNotFound()
	}
	return copyProfile(p), nil
}

// DeleteUser forgets the identity; deleting an unknown one is not an error.
func (a *Admin) DeleteUser(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return idp.TransportError("delete user", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.users, externalID)
	return nil
}
