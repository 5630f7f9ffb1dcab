package dev

import (
	"context"
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
