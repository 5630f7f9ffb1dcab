package dev

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/propertyportal/gateway/internal/idp"
)

// Admin is the dev IdP's admin side: an in-memory identity store that
// accepts updates, reads and deletes, so identity updates work in `gateway
// dev` without a real provider. An update of an identity it has not seen
// creates it (the dev users live in the seeded directory, not here). It
// also finds identities by email and invites them (idp.Inviter): an invite
// makes an unverified identity, dev-invited-N, and notes the email it
// would have sent (Invited); nothing is mailed.
type Admin struct {
	mu      sync.Mutex
	users   map[string]idp.Profile
	invited []string // ids of the identities invited, in order
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

// FindUsersByEmail returns the stored identities whose email is email,
// compared case-insensitively, ordered by id.
func (a *Admin) FindUsersByEmail(ctx context.Context, email string) ([]*idp.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, idp.TransportError("find users by email", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []*idp.Profile{}
	for _, p := range a.users {
		if p.Email != nil && strings.EqualFold(*p.Email, email) {
			out = append(out, copyProfile(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExternalID < out[j].ExternalID })
	return out, nil
}

// InviteUser stores a new unverified identity for u; Permanent 409 when an
// identity holds its email.
func (a *Admin) InviteUser(ctx context.Context, u idp.NewIdentity) (*idp.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, idp.TransportError("create user", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.users {
		if p.Email != nil && strings.EqualFold(*p.Email, u.Email) {
			return nil, &idp.AdminError{Kind: idp.Permanent, Status: http.StatusConflict,
				Reason: "the identity provider refused to create user: the value conflicts with another identity (status 409)"}
		}
	}
	id := "dev-invited-" + strconv.Itoa(len(a.invited)+1)
	for _, taken := a.users[id]; taken; _, taken = a.users[id] {
		id += "-"
	}
	p := idp.Profile{ExternalID: id, Email: &u.Email, FullName: u.FullName}
	a.users[id] = *copyProfile(p)
	a.invited = append(a.invited, id)
	return copyProfile(a.users[id]), nil
}

// CallsPerInvite is how many calls one InviteUser counts as.
func (a *Admin) CallsPerInvite() int { return 1 }

// Invited returns the ids of the identities invited, in order: the
// emails the dev IdP would have sent.
func (a *Admin) Invited() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.invited...)
}
