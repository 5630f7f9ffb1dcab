package idp

// ClaimDefaults are the claim names a kind's tokens carry when the
// configuration names none. Each kind's package (internal/idp/<kind>)
// defines its own; internal/idp/providers hands them to Config.Normalize.
type ClaimDefaults struct {
	Subject string // subject_claim
	// Roles is roles_claim's default; when empty the configuration must
	// set it, and RolesRequired says why.
	Roles         string
	RolesRequired string
}
