package dev

import (
	"context"
	"strings"
	"testing"

	"github.com/propertyportal/gateway/internal/idp"
)

func TestAdmin(t *testing.T) {
	ctx := context.Background()
	a := NewAdmin()
	email, name := "jane@example.com", "Jane Doe"
	if _, err := a.UpdateUser(ctx, "dev-1", idp.ProfileUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateUser(ctx, "dev-1", idp.ProfileUpdate{FullName: &name}); err != nil {
		t.Fatal(err)
	}
	p, err := a.GetUser(ctx, "dev-1")
	if err != nil || *p.Email != email || *p.FullName != name {
		t.Fatalf("got %+v, %v", p, err)
	}
	if err := a.DeleteUser(ctx, "dev-1"); err != nil {
		t.Fatal(err)
	}
	_, err = a.GetUser(ctx, "dev-1")
	if ae := idp.AsAdminError(err); err == nil || ae.Kind != idp.Permanent || ae.Status != 404 {
		t.Fatalf("after delete: %v", err)
	}
}

func TestAdminInvite(t *testing.T) {
	ctx := context.Background()
	a := NewAdmin()
	email, name := "jane@example.com", "Jane Doe"
	if _, err := a.UpdateUser(ctx, "dev-1", idp.ProfileUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	t.Run("FindIgnoringCase", func(t *testing.T) {
		got, err := a.FindUsersByEmail(ctx, "JANE@example.com")
		if err != nil || len(got) != 1 || got[0].ExternalID != "dev-1" {
			t.Fatalf("got %+v, %v", got, err)
		}
		if got, err := a.FindUsersByEmail(ctx, "nobody@example.com"); err != nil || len(got) != 0 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("InviteCreatesUnverified", func(t *testing.T) {
		p, err := a.InviteUser(ctx, idp.NewIdentity{Email: "new@example.com", FullName: &name})
		if err != nil || p.ExternalID == "" || p.EmailVerified || *p.FullName != name {
			t.Fatalf("got %+v, %v", p, err)
		}
		if got, _ := a.GetUser(ctx, p.ExternalID); got == nil || *got.Email != "new@example.com" {
			t.Fatalf("read back %+v", got)
		}
		if inv := a.Invited(); len(inv) != 1 || inv[0] != p.ExternalID {
			t.Fatalf("invited %v", inv)
		}
	})
	t.Run("InviteConflict", func(t *testing.T) {
		_, err := a.InviteUser(ctx, idp.NewIdentity{Email: "Jane@Example.com"})
		ae := idp.AsAdminError(err)
		if err == nil || ae.Kind != idp.Permanent || ae.Status != 409 || strings.Contains(ae.Error(), "jane") {
			t.Fatalf("got %v", err)
		}
	})
}
