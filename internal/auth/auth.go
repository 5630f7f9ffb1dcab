// Package auth turns a request's bearer token into the caller's
// access.Scope: it verifies the token against the configured IdP adapters
// (signature by the adapter's published keys, issuer, audience, expiry, an
// algorithm allow-list) with lestrrat-go/jwx, maps its claims to an
// idp.Identity, and signs the user in just in time. It never
// logs a token, a claim value or any other PII: a refusal is logged with a
// reason class only, and the client learns nothing but UNAUTHENTICATED.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

// Authenticator returns the scope of a request's caller. No credentials and
// bad credentials are both Unauthenticated; any other kind is a failure of
// the gateway (e.g. the database is down).
type Authenticator interface {
	Authenticate(r *http.Request) (access.Scope, error)
}

// maxTokenBytes bounds what is parsed at all.
const maxTokenBytes = 16 << 10

// signedInTTL bounds how long a verified token's scope is reused without
// another look at the directory or the token's signature, so a retired key
// stops verifying soon. An erased user is locked out at once by the
// erasure listener (ListenForErasures), not by this bound.
const signedInTTL = time.Minute

// errRefused is what every refused credential answers: nothing that helps
// an attacker.
var errRefused = apperr.E(apperr.Unauthenticated, "sign-in required")

// Verifier verifies bearer tokens of the configured adapters and signs their
// users in. It is safe for concurrent use.
type Verifier struct {
	byIssuer  map[string]*adapter
	linkFrom  map[string][]directory.LinkSource // by target adapter id
	directory *directory.Store
	log       *slog.Logger
	now       func() time.Time
	signedIn  *signedInCache

	listenerTuning listenerTuning
}

type adapter struct {
	cfg  idp.Config
	keys *keySource
}

// linkSources are the sources of a target adapter whose users its first
// sign-ins may take over (migrate_from with link_on_sign_in).
func linkSources(c *idp.Config) []directory.LinkSource {
	var out []directory.LinkSource
	for _, m := range c.MigrateSources {
		if m.LinkOnSignIn {
			out = append(out, directory.LinkSource{IdPID: m.IdP, Grace: time.Duration(m.Grace)})
		}
	}
	return out
}

// Options tune a Verifier.
type Options struct {
	// HTTPClient fetches discovery documents and key sets; a client with a
	// 10 s timeout when nil.
	HTTPClient *http.Client
	// Log receives refusals (reason class only) and key fetch failures.
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns a verifier over the adapters (each already normalised by
// idp.Parse or Config.Normalize) that signs users in to dir.
func New(adapters []idp.Config, dir *directory.Store, o Options) (*Verifier, error) {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &Verifier{byIssuer: map[string]*adapter{}, linkFrom: map[string][]directory.LinkSource{}, directory: dir, log: o.Log, now: o.Now,
		signedIn: newSignedInCache(), listenerTuning: defaultListenerTuning}
	for _, c := range adapters {
		if err := providers.Normalize(&c); err != nil {
			return nil, err
		}
		if _, dup := v.byIssuer[c.Issuer]; dup {
			return nil, fmt.Errorf("idp %q: issuer: used by another adapter", c.ID)
		}
		a := &adapter{cfg: c}
		if l := linkSources(&c); l != nil {
			v.linkFrom[c.ID] = l
		}
		a.keys = newKeySource(&a.cfg, o.HTTPClient, o.Now)
		v.byIssuer[c.Issuer] = a
	}
	if len(v.byIssuer) == 0 {
		return nil, errors.New("auth: no IdP adapters configured")
	}
	if err := idp.CheckMigrations(adapters); err != nil {
		return nil, err
	}
	return v, nil
}

// Authenticate implements Authenticator: a verified bearer token of a
// configured adapter, whose user (unless it is a service account) is signed
// in to the directory. A token verified and signed in lately, byte for byte
// the same, is taken from the cache without another signature check or
// statement, until its exp passes or its user is erased or moved to
// another identity (see ListenForErasures); a token of an identity its user
// moved away from is cached no longer than the move's grace.
func (v *Verifier) Authenticate(r *http.Request) (access.Scope, error) {
	s, _, err := v.AuthenticateUntil(r)
	return s, err
}

// AuthenticateUntil is Authenticate, and the instant from which the token
// is refused (its exp, with the adapter's clock skew, or the end of an
// ended link's grace): what ends a subscription opened with it.
func (v *Verifier) AuthenticateUntil(r *http.Request) (access.Scope, time.Time, error) {
	raw, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return access.Scope{}, time.Time{}, errRefused
	}
	if len(raw) > maxTokenBytes {
		return access.Scope{}, time.Time{}, v.refuse(r.Context(), "", "oversized")
	}
	key := tokenKey(raw)
	if e, ok := v.signedIn.get(key); ok {
		if v.now().Truncate(time.Second).Before(e.until) {
			return e.scope, e.until, nil
		}
		v.signedIn.remove(key) // expired: verify refuses it, and says why
	}
	// Read before SignIn reads the user: an erasure notice that comes
	// while this sign-in runs keeps its scope out of the cache. The scope
	// is still returned: a request under way when the erasure lands may
	// finish.
	gen := v.signedIn.generation()
	id, until, err := v.verify(r.Context(), raw)
	if err != nil {
		return access.Scope{}, time.Time{}, err
	}
	s := access.Scope{Role: id.Role, TenantID: id.TenantID}
	if !id.ServiceAccount() {
		u, err := v.directory.SignIn(r.Context(), directory.Claims{IdPID: id.IdPID, ExternalID: id.ExternalID,
			TenantID: id.TenantID, Email: id.Email, FullName: id.FullName, IssuedAt: id.IssuedAt,
			EmailVerified: id.EmailVerified, LinkFrom: v.linkFrom[id.IdPID]})
		if err != nil {
			if apperr.KindOf(err) == apperr.Unauthenticated {
				return access.Scope{}, time.Time{}, v.refuse(r.Context(), id.IdPID, signInRefusal(err))
			}
			return access.Scope{}, time.Time{}, err
		}
		s.UserID = u.ID
		// A token of an ended link is cached no longer than its grace: the
		// hit test truncates now to the second, so until is too.
		if u.Until != nil && u.Until.Truncate(time.Second).Before(until) {
			until = u.Until.Truncate(time.Second)
		}
	}
	v.signedIn.add(key, signedIn{scope: s, until: until}, gen)
	return s, until, nil
}

// tokenKey is the SHA-256 of a token, the cache's key: the cache holds no
// credential. The token is hashed through a small buffer, not copied whole.
func tokenKey(raw string) (key [32]byte) {
	h := sha256.New()
	var buf [256]byte
	for len(raw) > 0 {
		n := copy(buf[:], raw)
		h.Write(buf[:n])
		raw = raw[n:]
	}
	h.Sum(key[:0])
	return key
}

// verify checks raw and returns its identity and the instant from which
// its exp refuses it.
func (v *Verifier) verify(ctx context.Context, raw string) (_ idp.Identity, until time.Time, _ error) {
	// One parse of the compact form gives the header and the payload. The
	// issuer picks the adapter; nothing of the unverified payload is
	// trusted beyond that choice.
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return idp.Identity{}, until, v.refuse(ctx, "", "malformed")
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(msg.Payload(), &unverified); err != nil {
		return idp.Identity{}, until, v.refuse(ctx, "", "malformed")
	}
	a, ok := v.byIssuer[unverified.Issuer]
	if !ok {
		return idp.Identity{}, until, v.refuse(ctx, "", "unknown_issuer")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	algName := ""
	if alg, ok := hdr.Algorithm(); ok {
		algName = alg.String()
	}
	if !slices.Contains(a.cfg.Algorithms, algName) {
		return idp.Identity{}, until, v.refuse(ctx, a.cfg.ID, "algorithm")
	}
	alg, ok := jwa.LookupSignatureAlgorithm(algName)
	if !ok {
		return idp.Identity{}, until, v.refuse(ctx, a.cfg.ID, "algorithm")
	}
	kid, _ := hdr.KeyID()
	key, err := a.keys.key(ctx, kid)
	if err != nil {
		if !errors.Is(err, errUnknownKey) {
			v.log.WarnContext(ctx, "idp keys unavailable", "idp", a.cfg.ID, "error", err.Error())
		}
		return idp.Identity{}, until, v.refuse(ctx, a.cfg.ID, "unknown_key")
	}
	if keyAlg, ok := key.Algorithm(); ok && keyAlg.String() != algName {
		return idp.Identity{}, until, v.refuse(ctx, a.cfg.ID, "algorithm")
	}
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKey(alg, key),
		jwt.WithValidate(true),
		jwt.WithIssuer(a.cfg.Issuer),
		jwt.WithAcceptableSkew(time.Duration(a.cfg.ClockSkew)),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim("exp"),
		jwt.WithValidator(audienceOneOf(a.cfg.Audiences)),
	)
	if err != nil {
		return idp.Identity{}, until, v.refuse(ctx, a.cfg.ID, reason(err))
	}
	id, why := identityOf(&a.cfg, tok)
	if why != "" {
		return idp.Identity{}, until, v.refuse(ctx, a.cfg.ID, why)
	}
	// exp is required: jwx refuses from exp+skew on, both truncated to the
	// second (its default truncation).
	exp, _ := tok.Expiration()
	return id, exp.Truncate(time.Second).Add(time.Duration(a.cfg.ClockSkew)), nil
}

// signInRefusal is the reason class of a sign-in the directory refused.
func signInRefusal(err error) string {
	switch {
	case errors.Is(err, directory.ErrSignInMoved):
		return "identity_moved"
	case errors.Is(err, directory.ErrAmbiguousLink):
		return "ambiguous_link"
	default:
		return "sign_in_refused"
	}
}

// refuse logs why a token was refused, as a class, and returns errRefused.
func (v *Verifier) refuse(ctx context.Context, idpID, why string) error {
	v.log.InfoContext(ctx, "token refused", "idp", idpID, "reason", why)
	return errRefused
}

// reason classifies a jwx error without its text, which may quote claims.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return "expired"
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return "not_yet_valid"
	case errors.Is(err, jwt.InvalidAudienceError()):
		return "audience"
	case errors.Is(err, jwt.InvalidIssuerError()):
		return "issuer"
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return "issued_at"
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return "missing_claim"
	case errors.Is(err, jwt.ValidateError()):
		return "invalid_claims"
	default:
		return "signature"
	}
}

// audienceOneOf accepts a token whose aud names at least one of want.
func audienceOneOf(want []string) jwt.Validator {
	return jwt.ValidatorFunc(func(_ context.Context, t jwt.Token) error {
		aud, _ := t.Audience()
		for _, a := range aud {
			if slices.Contains(want, a) {
				return nil
			}
		}
		return jwt.InvalidAudienceError()
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" value.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}
