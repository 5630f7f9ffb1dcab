package dev

import "github.com/propertyportal/gateway/internal/idp"

// DefaultClaims are the claims of the dev issuer's tokens: sub, and roles. Its
// deliveries use the generic webhook scheme (internal/idp/oidc).
var DefaultClaims = idp.ClaimDefaults{Subject: "sub", Roles: "roles"}
