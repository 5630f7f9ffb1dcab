package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/sync/singleflight"

	"github.com/propertyportal/gateway/internal/idp"
)

// keysMaxAge is how long a fetched key set is trusted before it is fetched
// again on the next request, so retired keys stop verifying.
const keysMaxAge = time.Hour

// errUnknownKey means no published key has the token's kid, even after the
// refetch the rate limit allows.
var errUnknownKey = errors.New("unknown key id")

// keySource is one adapter's signing keys: fetched on first use (through
// OIDC discovery unless the JWKS URL is configured), refetched when older
// than keysMaxAge, and refetched early when a token names a kid it does not
// know, at most once per the adapter's JWKS minimum refresh interval.
type keySource struct {
	cfg    *idp.Config
	client *http.Client
	now    func() time.Time

	group singleflight.Group

	mu        sync.RWMutex
	set       jwk.Set
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // start of the last attempt, successful or not
	failed    bool      // the last attempt failed
	inflight  bool      // an attempt is under way
}

func newKeySource(cfg *idp.Config, client *http.Client, now func() time.Time) *keySource {
	return &keySource{cfg: cfg, client: client, now: now}
}

// key returns the published key with id kid.
func (k *keySource) key(ctx context.Context, kid string) (jwk.Key, error) {
	k.mu.RLock()
	set, fetchedAt, triedAt, failed, inflight := k.set, k.fetchedAt, k.triedAt, k.failed, k.inflight
	k.mu.RUnlock()

	now := k.now()
	stale := set == nil || now.Sub(fetchedAt) > keysMaxAge
	if !stale {
		if key, ok := set.LookupKeyID(kid); ok {
			return key, nil
		}
	}
	var fetch bool
	switch {
	case inflight: // join the fetch under way
		fetch = true
	case stale: // first use, or keys too old; but do not retry a failure per request
		fetch = !failed || now.Sub(triedAt) >= time.Second
	default:
		// An unknown kid: a rotation, or a forged token. Refetch, but no
		// more often than the adapter allows, so forged kids cannot make
		// us hammer the IdP.
		fetch = now.Sub(triedAt) >= time.Duration(k.cfg.JWKSMinRefresh)
	}
	if fetch {
		v, err, _ := k.group.Do("fetch", func() (any, error) { return k.fetch(ctx) })
		if err == nil {
			set = v.(jwk.Set)
		} else if set == nil {
			return nil, err
		} // else: keep verifying with the keys we have
	}
	if set != nil {
		if key, ok := set.LookupKeyID(kid); ok {
			return key, nil
		}
	}
	return nil, errUnknownKey
}

// fetch downloads the key set and replaces the cached one.
func (k *keySource) fetch(ctx context.Context) (set jwk.Set, err error) {
	k.mu.Lock()
	k.triedAt, k.inflight = k.now(), true
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.inflight, k.failed = false, err != nil
		if err == nil {
			k.set, k.fetchedAt = set, k.now()
		}
		k.mu.Unlock()
	}()
	// The fetch serves every waiting request: it must not end with the
	// first caller's request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	url := k.cfg.JWKSURL
	if url == "" {
		if url, err = k.discover(ctx); err != nil {
			return nil, err
		}
	}
	set, err = jwk.Fetch(ctx, url, jwk.WithHTTPClient(k.client))
	if err != nil {
		return nil, fmt.Errorf("jwks of %s: %w", k.cfg.ID, err)
	}
	return set, nil
}

// discover reads the issuer's OpenID configuration for its jwks_uri, and
// checks that the document is the issuer's own.
func (k *keySource) discover(ctx context.Context) (string, error) {
	url := strings.TrimSuffix(k.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := k.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovery of %s: %w", k.cfg.ID, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery of %s: status %d", k.cfg.ID, res.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery of %s: %w", k.cfg.ID, err)
	}
	if doc.Issuer != k.cfg.Issuer || doc.JWKSURI == "" {
		return "", fmt.Errorf("discovery of %s: issuer or jwks_uri does not match the configuration", k.cfg.ID)
	}
	return doc.JWKSURI, nil
}
