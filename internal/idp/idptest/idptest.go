// Package idptest is the common core of the admin API fakes in
// auth0test, keycloaktest and entratest: a user table, client-credentials
// tokens, a record of every admin call, and the failure modes the tests
// need (down, slow, rate limited, a status forced for one user). It is for
// tests only and never talks to a real IdP.
package idptest

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// User is an identity in a fake IdP.
type User struct {
	ID        string
	Email     string
	FirstName string // providers with one name field keep it here
	LastName  string
}

// Call is one admin API request the fake received.
type Call struct {
	At     time.Time
	Method string
	Path   string
	UserID string
	Body   map[string]any
	Status int // what the fake answered
}

// ErrorBody writes a provider-shaped error document for status and code.
type ErrorBody func(status int, code, message string) any

// Core is the state and behaviour shared by every provider fake. Its
// exported fields may be set before the first request; use the methods
// afterwards.
type Core struct {
	ClientID, ClientSecret string
	TokenTTL               time.Duration // expires_in of issued tokens; default 1h

	mu         sync.Mutex
	users      map[string]*User
	calls      []Call
	tokens     map[string]time.Time // token -> expiry
	tokenCalls int
	down       int // answer 503 to the next n calls; -1: until Up
	latency    time.Duration
	rate       float64 // requests per second before 429; 0: unlimited
	rateMode   string  // "auth0" adds X-RateLimit-*; otherwise Retry-After
	forced     map[string]int
	errBody    ErrorBody
	hang       chan struct{} // when set, calls block until it closes or the request ends
}

// NewCore makes a core that answers errors with errBody.
func NewCore(errBody ErrorBody) *Core {
	return &Core{
		ClientID: "gateway", ClientSecret: "s3cret", TokenTTL: time.Hour,
		users: map[string]*User{}, tokens: map[string]time.Time{}, forced: map[string]int{},
		errBody: errBody,
	}
}

// Put adds or replaces a user.
func (c *Core) Put(u User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := u
	c.users[u.ID] = &cp
}

// Get returns a copy of the user id and whether it exists.
func (c *Core) Get(id string) (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Update changes a user under the lock; it reports false when there is none.
func (c *Core) Update(id string, fn func(u *User)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[id]
	if ok {
		fn(u)
	}
	return ok
}

// Delete removes a user; it reports whether there was one.
func (c *Core) Delete(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.users[id]
	delete(c.users, id)
	return ok
}

// EmailTaken reports whether another user than id has email.
func (c *Core) EmailTaken(id, email string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.users {
		if u.ID != id && strings.EqualFold(u.Email, email) {
			return true
		}
	}
	return false
}

// SetTokenTTL sets expires_in of the tokens issued from now on.
func (c *Core) SetTokenTTL(d time.Duration) { c.mu.Lock(); c.TokenTTL = d; c.mu.Unlock() }

// SetDown makes the next n admin calls answer 503; n < 0 until SetDown(0).
func (c *Core) SetDown(n int) { c.mu.Lock(); c.down = n; c.mu.Unlock() }

// SetLatency delays every admin answer by d.
func (c *Core) SetLatency(d time.Duration) { c.mu.Lock(); c.latency = d; c.mu.Unlock() }

// SetRate makes the fake answer 429 to a call that would be more than rps
// calls in the last second, as the provider's quota does.
func (c *Core) SetRate(rps float64) { c.mu.Lock(); c.rate = rps; c.mu.Unlock() }

// Force makes every call about user id answer status (0 to stop).
func (c *Core) Force(id string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if status == 0 {
		delete(c.forced, id)
	} else {
		c.forced[id] = status
	}
}

// Hang makes admin calls block until the returned release is called or
// the request is abandoned, as an IdP that never answers does.
func (c *Core) Hang() (release func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.hang = ch
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.hang = nil
			c.mu.Unlock()
			close(ch)
		})
	}
}

// Calls returns a copy of every admin call received, in arrival order.
func (c *Core) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// TokenCalls is how many tokens were issued.
func (c *Core) TokenCalls() int { c.mu.Lock(); defer c.mu.Unlock(); return c.tokenCalls }

// MaxInWindow is the most admin calls that arrived within any window of
// length d (half-open: [t, t+d)).
func (c *Core) MaxInWindow(d time.Duration) int {
	calls := c.Calls()
	ts := make([]time.Time, len(calls))
	for i, cl := range calls {
		ts[i] = cl.At
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= d {
			lo++
		}
		if n := hi - lo + 1; n > best {
			best = n
		}
	}
	return best
}

// Count429 is how many calls the fake refused for the quota.
func (c *Core) Count429() int {
	n := 0
	for _, cl := range c.Calls() {
		if cl.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

// IssueToken answers a client-credentials token request (form or JSON
// body already parsed into fields) as an OAuth 2.0 token endpoint does.
func (c *Core) IssueToken(w http.ResponseWriter, fields map[string]string) {
	if fields["grant_type"] != "client_credentials" {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if fields["client_id"] != c.ClientID || fields["client_secret"] != c.ClientSecret {
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Unauthorized"})
		return
	}
	c.mu.Lock()
	c.tokenCalls++
	tok := "tok-" + strconv.Itoa(c.tokenCalls)
	c.tokens[tok] = time.Now().Add(c.TokenTTL)
	ttl := int(c.TokenTTL / time.Second)
	c.mu.Unlock()
	WriteJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": ttl})
}

// TokenFields reads a token request's form or JSON body.
func TokenFields(r *http.Request) map[string]string {
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return out
	}
	_ = r.ParseForm()
	for k := range r.PostForm {
		out[k] = r.PostForm.Get(k)
	}
	if u, p, ok := r.BasicAuth(); ok {
		out["client_id"], out["client_secret"] = u, p
	}
	return out
}

// Gate runs the common checks of an admin call about user id: bearer
// token, latency, hang, outage, quota and a forced status. It records the
// call and answers it when a check fails; the provider handler continues
// only when Gate returns true, and then calls Done with its status.
func (c *Core) Gate(w http.ResponseWriter, r *http.Request, userID string, body map[string]any) (done func(status int), ok bool) {
	now := Arrival(r)
	c.mu.Lock()
	latency, hang := c.latency, c.hang
	c.mu.Unlock()
	record := func(status int) {
		c.mu.Lock()
		c.calls = append(c.calls, Call{At: now, Method: r.Method, Path: r.URL.Path, UserID: userID, Body: body, Status: status})
		c.mu.Unlock()
	}
	fail := func(status int, code, msg string) (func(int), bool) {
		record(status)
		WriteJSON(w, status, c.errBody(status, code, msg))
		return nil, false
	}
	auth := r.Header.Get("Authorization")
	c.mu.Lock()
	exp, known := c.tokens[strings.TrimPrefix(auth, "Bearer ")]
	c.mu.Unlock()
	if !strings.HasPrefix(auth, "Bearer ") || !known || time.Now().After(exp) {
		return fail(http.StatusUnauthorized, "invalid_token", "Invalid token")
	}
	c.mu.Lock()
	if c.rate > 0 {
		n := 0
		for i := len(c.calls) - 1; i >= 0 && now.Sub(c.calls[i].At) < time.Second; i-- {
			if c.calls[i].Status != http.StatusTooManyRequests {
				n++
			}
		}
		if float64(n) >= c.rate {
			reset := now.Add(time.Second).Truncate(time.Second).Add(time.Second)
			c.calls = append(c.calls, Call{At: now, Method: r.Method, Path: r.URL.Path, UserID: userID, Body: body, Status: 429})
			c.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			w.Header().Set("X-RateLimit-Limit", strconv.Itoa(int(c.rate)))
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
			WriteJSON(w, http.StatusTooManyRequests, c.errBody(429, "too_many_requests", "Global limit has been reached"))
			return nil, false
		}
	}
	down := c.down
	if c.down > 0 {
		c.down--
	}
	forced := c.forced[userID]
	c.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			record(0)
			return nil, false
		}
	}
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			record(0)
			return nil, false
		}
	}
	if down != 0 {
		w.Header().Set("Retry-After", "0")
		return fail(http.StatusServiceUnavailable, "service_unavailable", "Service unavailable")
	}
	if forced != 0 {
		return fail(forced, "forced", "Refused")
	}
	return record, true
}

type arrivalKey struct{}

// Stamp wraps a fake's handler so each request records when it arrived,
// before its body is read: the time the quota is measured on.
func Stamp(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), arrivalKey{}, time.Now())))
	})
}

// Arrival is when r arrived (see Stamp); now when it was not stamped.
func Arrival(r *http.Request) time.Time {
	if t, ok := r.Context().Value(arrivalKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// WriteJSON writes v as a JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// DecodeBody reads a JSON request body into a map.
func DecodeBody(r *http.Request) (map[string]any, error) {
	var m map[string]any
	err := json.NewDecoder(r.Body).Decode(&m)
	return m, err
}

// Str returns m[k] as a string pointer when it is a string.
func Str(m map[string]any, k string) *string {
	if v, ok := m[k].(string); ok {
		return &v
	}
	return nil
}
