package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/privacy"
)

// editor returns the contact editor over the request's stores: buildings
// and users are looked up in the caller's scope, so another tenant's are
// NotFound.
func (r *Resolver) editor() *comms.Editor {
	return &comms.Editor{
		Store:  r.Comms,
		Region: r.PhoneRegion,
		BuildingVisible: func(ctx context.Context, s access.Scope, id uuid.UUID) error {
			_, err := r.Property.FindBuildingByID(ctx, s, id)
			return err
		},
		UserLinkable: func(ctx context.Context, s access.Scope, id uuid.UUID) error {
			u, err := r.Directory.FindUserByID(ctx, s, id)
			if err == nil && u.ErasedAt != nil {
				return apperr.E(apperr.Conflict, "the user was erased")
			}
			return err
		},
	}
}

// erase runs one erasure as the caller.
func erase(ctx context.Context, r *Resolver, fn func(*privacy.Service, access.Scope) (*privacy.Erasure, error)) (*privacy.Erasure, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	if r.Erasure == nil {
		return nil, apperr.E(apperr.Internal, "erasure is not configured")
	}
	return fn(r.Erasure, s)
}

// editContact runs one contact edit as the caller and plans below the
// contact it answers.
func editContact(ctx context.Context, r *Resolver, fn func(*comms.Editor, access.Scope) (*comms.Contact, error)) (*model.Contact, error) {
	p, err := r.plannerFor(ctx)
	if err != nil {
		return nil, err
	}
	c, err := fn(r.editor(), p.scope)
	if err != nil {
		return nil, err
	}
	return planOne(p, "Contact", c, (*planner).contact)
}

// editLink runs one link edit as the caller and plans below the link it
// answers (which comes with its contact).
func editLink(ctx context.Context, r *Resolver, fn func(*comms.Editor, access.Scope) (*comms.BuildingLink, error)) (*model.BuildingContact, error) {
	p, err := r.plannerFor(ctx)
	if err != nil {
		return nil, err
	}
	l, err := fn(r.editor(), p.scope)
	if err != nil {
		return nil, err
	}
	return planOne(p, "BuildingContact", l, func(p *planner, l *comms.BuildingLink) *model.BuildingContact {
		return &model.BuildingContact{BuildingLink: l, Contact: p.contact(l.Contact)}
	})
}

// userByID answers a lookup of one user by id, planned below.
func (r *Resolver) userByID(ctx context.Context, id uuid.UUID) (*model.User, error) {
	p, err := r.plannerFor(ctx)
	if err != nil {
		return nil, err
	}
	found, err := p.l.UsersByID(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return planOne(p, "User", found[id], (*planner).user)
}

// identityPayload shows an identity mutation's result, planned below its
// user and contact.
func (r *Resolver) identityPayload(ctx context.Context) func(*identity.Result, error) (*model.IdentityUpdatePayload, error) {
	return func(res *identity.Result, err error) (*model.IdentityUpdatePayload, error) {
		if err != nil || res == nil {
			return nil, err
		}
		p, err := r.plannerFor(ctx)
		if err != nil {
			return nil, err
		}
		out := &model.IdentityUpdatePayload{Sync: res.Sync}
		fc := graphql.GetFieldContext(ctx)
		for _, f := range p.collect(fc.Field.Selections, "IdentityUpdatePayload") {
			switch {
			case f.Name == "user" && res.User != nil:
				out.User = p.user(res.User)
				err = p.plan("User", []any{out.User}, p.collect(f.Selections, "User"))
			case f.Name == "contact" && res.Contact != nil:
				out.Contact = p.contact(res.Contact)
				err = p.plan("Contact", []any{out.Contact}, p.collect(f.Selections, "Contact"))
			}
			if err != nil {
				return nil, err
			}
		}
		if out.User == nil && res.User != nil {
			out.User = p.user(res.User)
		}
		if out.Contact == nil && res.Contact != nil {
			out.Contact = p.contact(res.Contact)
		}
		return out, nil
	}
}
