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
	triedAt   time.Time // last attempt, successful or not
	fetches   int       // successful fetches, for tests and metrics
}

func newKeySource(cfg *idp.Config, client *http.Client, now func() time.Time) *keySource {
	return &keySource{cfg: cfg, client: client, now: now}
}

// key returns the published key with id kid.
func (k *keySource) key(ctx context.Context, kid string) (jwk.Key, error) {
	k.mu.RLock()
	set, fetchedAt, triedAt := k.set, k.fetchedAt, k.triedAt
	k.mu.RUnlock()

	stale := set == nil || k.now().Sub(fetchedAt) > keysMaxAge
	if !stale {
		if key, ok := set.LookupKeyID(kid); ok {
			return key, nil
		}
		// An unknown kid: a rotation, or a forged token. Refetch, but no
		// more often than the adapter allows, so forged kids cannot make
		// us hammer the IdP.
		if k.now().Sub(triedAt) < time.Duration(k.cfg.JWKSMinRefresh) {
			return nil, errUnknownKey
		}
	} else if set == nil && k.now().Sub(triedAt) < time.Second {
		// Never fetched and the last attempt just failed: do not retry per request.
		return nil, errUnknownKey
	}
	v, err, _ := k.group.Do("fetch", func() (any, error) { return k.fetch(ctx) })
	if err != nil {
		if set != nil { // keep verifying with the keys we have
			if key, ok := set.LookupKeyID(kid); ok {
				return key, nil
			}
		}
		return nil, err
	}
	if key, ok := v.(jwk.Set).LookupKeyID(kid); ok {
		return key, nil
	}
	return nil, errUnknownKey
}

// fetch downloads the key set and replaces the cached one.
func (k *keySource) fetch(ctx context.Context) (jwk.Set, error) {
	k.mu.Lock()
	k.triedAt = k.now()
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := k.cfg.JWKSURL
	if url == "" {
		var err error
		if url, err = k.discover(ctx); err != nil {
			return nil, err
		}
	}
	set, err := jwk.Fetch(ctx, url, jwk.WithHTTPClient(k.client))
	if err != nil {
		return nil, fmt.Errorf("jwks of %s: %w", k.cfg.ID, err)
	}
	k.mu.Lock()
	k.set, k.fetchedAt = set, k.now()
	k.fetches++
	k.mu.Unlock()
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

// Fetches returns how many times the keys were fetched.
func (k *keySource) Fetches() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.fetches
}
