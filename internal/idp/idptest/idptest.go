// Package idptest is the common core of the admin API fakes in
// auth0test, keycloaktest and entratest: a user table, client-credentials
// tokens, a record of every admin call, and the failure modes the tests
// need (down, slow, rate limited, a quota shared with another client, a
// status forced for one user, a write that lands after its client gave up,
// an answer lost to a reset connection). It is for tests only and never
// talks to a real IdP.
package idptest

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/url"
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
	// EmailVerified: the person proved they own Email (each fake shows it
	// as its provider does: Auth0 email_verified, Keycloak emailVerified,
	// Entra a guest's externalUserState).
	EmailVerified bool
}

// Sent is an email a fake sent on its own: an invitation, a password
// reset, a required-actions email.
type Sent struct {
	At     time.Time
	UserID string
	Email  string
	Kind   string // the provider's name for it: change_password, execute-actions-email, invitation
	// Actions are what the email asks the person to do (Keycloak's
	// required actions), nil for others.
	Actions []string
}

// Call is one admin API request the fake received.
type Call struct {
	At     time.Time
	Method string
	Path   string
	UserID string
	Body   map[string]any
	Status int // what the fake answered (0: nothing, the client gave up)
	// Lost: the client never saw the answer. The call took effect after
	// its client gave up (LandLate) or its connection was reset (SetReset).
	Lost bool
}

// ErrorBody writes a provider-shaped error document for status and code.
type ErrorBody func(status int, code, message string) any

// Core is the state and behaviour shared by every provider fake. Its
// exported fields may be set before the first request; use the methods
// afterwards.
type Core struct {
	ClientID, ClientSecret string
	TokenTTL               time.Duration // expires_in of issued tokens; default 1h
	// QuotaHeaders: every admin answer carries X-RateLimit-Limit,
	// -Remaining and -Reset while a rate is set, as Auth0's do; otherwise
	// only a 429 says anything, with Retry-After.
	QuotaHeaders bool

	mu         sync.Mutex
	users      map[string]*User
	calls      []Call
	tokens     map[string]time.Time // token -> expiry
	tokenCalls int
	down       int // answer 503 to the next n calls; -1: until Up
	latency    time.Duration
	rate       float64 // requests per second before 429; 0: unlimited
	forced     map[string]int
	errBody    ErrorBody
	hang       chan struct{}  // when set, calls block until it closes or the request ends
	late       *time.Duration // the next write lands this long after its client gave up; < 0: never
	resets     int            // the next n writes take effect and lose their answer
	sent       []Sent
	created    int // users Create made, for their ids

	// Another client of the same quota (ShareQuota): its calls, admitted
	// or refused by the same rule as ours, are kept apart from calls.
	otherRate    float64
	otherNext    time.Time
	others       []time.Time // its admitted calls
	otherRefused int
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

// Users returns copies of every user, ordered by id.
func (c *Core) Users() []User {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]User, 0, len(c.users))
	for _, u := range c.users {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FindByEmail returns copies of the users whose email is email, compared
// case-insensitively as the providers do, ordered by id.
func (c *Core) FindByEmail(email string) []User {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []User
	for _, u := range c.users {
		if strings.EqualFold(u.Email, email) {
			out = append(out, *u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Create adds u under a new id, newID(n) for the n-th user created, unless
// another user holds its email (compared case-insensitively): then it
// reports false and adds nothing. The check and the insert are one step.
func (c *Core) Create(u User, newID func(n int) string) (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.users {
		if strings.EqualFold(o.Email, u.Email) {
			return User{}, false
		}
	}
	for {
		c.created++
		u.ID = newID(c.created)
		if _, ok := c.users[u.ID]; !ok {
			break
		}
	}
	cp := u
	c.users[u.ID] = &cp
	return u, true
}

// RecordSent notes an email the fake sent.
func (c *Core) RecordSent(s Sent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.At.IsZero() {
		s.At = time.Now()
	}
	c.sent = append(c.sent, s)
}

// SentEmails returns a copy of every email the fake sent, in order.
func (c *Core) SentEmails() []Sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Sent(nil), c.sent...)
}

// SentTo returns the emails the fake sent about user id.
func (c *Core) SentTo(id string) []Sent {
	var out []Sent
	for _, s := range c.SentEmails() {
		if s.UserID == id {
			out = append(out, s)
		}
	}
	return out
}

// CallsFor returns the admin calls recorded about user id.
func (c *Core) CallsFor(id string) []Call {
	var out []Call
	for _, cl := range c.Calls() {
		if cl.UserID == id {
			out = append(out, cl)
		}
	}
	return out
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

// SetClientSecret changes the client secret the token endpoint accepts,
// as a rotation at the IdP does; safe while requests are served.
func (c *Core) SetClientSecret(s string) { c.mu.Lock(); c.ClientSecret = s; c.mu.Unlock() }

// SetTokenTTL sets expires_in of the tokens issued from now on.
func (c *Core) SetTokenTTL(d time.Duration) { c.mu.Lock(); c.TokenTTL = d; c.mu.Unlock() }

// SetDown makes the next n admin calls answer 503; n < 0 until SetDown(0).
func (c *Core) SetDown(n int) { c.mu.Lock(); c.down = n; c.mu.Unlock() }

// SetLatency delays every admin answer by d.
func (c *Core) SetLatency(d time.Duration) { c.mu.Lock(); c.latency = d; c.mu.Unlock() }

// SetRate makes the fake answer 429 to a call that would be more than rps
// calls in the last second, as the provider's quota does.
func (c *Core) SetRate(rps float64) { c.mu.Lock(); c.rate = rps; c.mu.Unlock() }

// ShareQuota has another client of the same tenant call rps times a second
// from now on (0 stops it), against the same quota as the gateway's calls:
// its calls are admitted or refused by the same rule, and the admitted
// ones count toward the gateway's quota. They are not in Calls.
func (c *Core) ShareQuota(rps float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.otherRate, c.otherNext = rps, time.Now()
}

// OtherCalls is how many calls of the other client (ShareQuota) the fake
// admitted and refused.
func (c *Core) OtherCalls() (admitted, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.catchUpOthers(time.Now())
	return len(c.others), c.otherRefused
}

// LandLate makes the next write (any admin call but a GET) go unanswered
// until its client gives up, and take effect after that much longer, as an
// IdP that finishes a request its client abandoned does. A negative after
// drops it instead. The call is recorded when it takes effect, Lost.
func (c *Core) LandLate(after time.Duration) { c.mu.Lock(); c.late = &after; c.mu.Unlock() }

// SetReset makes the next n writes (admin calls but GETs) take effect and
// then lose their answer: the connection is reset before the response is
// written. They are recorded Lost.
func (c *Core) SetReset(n int) { c.mu.Lock(); c.resets = n; c.mu.Unlock() }

// Force makes every call about user id answer status (0 to stop); id may
// also be an email, in lower case, for the calls that create a user with it.
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
	c.mu.Lock()
	id, secret := c.ClientID, c.ClientSecret
	c.mu.Unlock()
	if fields["client_id"] != id || fields["client_secret"] != secret {
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

// TokenFields reads a token request's form or JSON body, and HTTP Basic
// client credentials.
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
		// client_secret_basic: RFC 6749 (2.3.1) form-encodes the id and
		// secret before Basic encoding, and the provider decodes them.
		du, err1 := url.QueryUnescape(u)
		dp, err2 := url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return map[string]string{"grant_type": out["grant_type"]}
		}
		out["client_id"], out["client_secret"] = du, dp
	}
	return out
}

// Gate runs the common checks of an admin call about user id: bearer
// token, quota, latency, hang, outage, a forced status, a late landing and
// a reset. It records the call and answers it when a check fails; the
// provider handler continues only when Gate returns true, and then calls
// Done with its status before it writes the answer.
func (c *Core) Gate(w http.ResponseWriter, r *http.Request, userID string, body map[string]any) (done func(status int), ok bool) {
	return c.gate(w, r, &userID, body, true)
}

// GateCreate is Gate for a call that creates a user, whose id is known
// only once it is made: done records the call with the id it is given
// ("" when none was made). A status forced for the email in body
// (Force(email, status)) answers it, as a status forced for a user does.
func (c *Core) GateCreate(w http.ResponseWriter, r *http.Request, email string, body map[string]any) (done func(status int, userID string), ok bool) {
	var id string
	d, ok := c.gate(w, r, &id, body, true, strings.ToLower(email))
	if !ok {
		return nil, false
	}
	return func(status int, userID string) { id = userID; d(status) }, true
}

// GatePublic is Gate for an endpoint that takes no bearer token (Auth0's
// Authentication API): the quota, faults and record are the same.
func (c *Core) GatePublic(w http.ResponseWriter, r *http.Request, userID string, body map[string]any) (done func(status int), ok bool) {
	return c.gate(w, r, &userID, body, false)
}

// gate is Gate with the user id read when the call is recorded, and the
// forced-status keys to check (the user id, and any others).
func (c *Core) gate(w http.ResponseWriter, r *http.Request, userID *string, body map[string]any, needToken bool, forceKeys ...string) (done func(status int), ok bool) {
	now := Arrival(r)
	c.mu.Lock()
	latency, hang := c.latency, c.hang
	c.mu.Unlock()
	record := func(status int, lost bool) {
		c.mu.Lock()
		c.calls = append(c.calls, Call{At: now, Method: r.Method, Path: r.URL.Path, UserID: *userID, Body: body, Status: status, Lost: lost})
		c.mu.Unlock()
	}
	fail := func(status int, code, msg string) (func(int), bool) {
		record(status, false)
		WriteJSON(w, status, c.errBody(status, code, msg))
		return nil, false
	}
	auth := r.Header.Get("Authorization")
	c.mu.Lock()
	exp, known := c.tokens[strings.TrimPrefix(auth, "Bearer ")]
	c.mu.Unlock()
	if needToken && (!strings.HasPrefix(auth, "Bearer ") || !known || time.Now().After(exp)) {
		return fail(http.StatusUnauthorized, "invalid_token", "Invalid token")
	}
	c.mu.Lock()
	if c.rate > 0 {
		c.catchUpOthers(now)
		n, oldest := c.inWindow(now)
		limit := int(c.rate)
		if float64(n) >= c.rate {
			reset := now.Add(time.Second).Truncate(time.Second).Add(time.Second)
			c.calls = append(c.calls, Call{At: now, Method: r.Method, Path: r.URL.Path, UserID: *userID, Body: body, Status: 429})
			c.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			if c.QuotaHeaders {
				w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
			}
			WriteJSON(w, http.StatusTooManyRequests, c.errBody(429, "too_many_requests", "Global limit has been reached"))
			return nil, false
		}
		if c.QuotaHeaders {
			// Admitted: this call is in the window now. The window is
			// whole again once its oldest call leaves it.
			if n == 0 {
				oldest = now
			}
			reset := int64(math.Ceil(float64(oldest.Add(time.Second).UnixNano()) / 1e9))
			w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
			w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(0, limit-n-1)))
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		}
	}
	down := c.down
	if c.down > 0 {
		c.down--
	}
	forced := c.forced[*userID]
	for _, k := range forceKeys {
		if forced == 0 {
			forced = c.forced[k]
		}
	}
	var late *time.Duration
	if c.late != nil && r.Method != http.MethodGet {
		late, c.late = c.late, nil
	}
	reset := c.resets > 0 && r.Method != http.MethodGet
	if reset {
		c.resets--
	}
	c.mu.Unlock()
	if late != nil {
		<-r.Context().Done() // no answer: the client gives up
		if *late < 0 {
			record(0, false)
			return nil, false
		}
		time.Sleep(*late)
		return func(status int) { record(status, true) }, true
	}
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			record(0, false)
			return nil, false
		}
	}
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			record(0, false)
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
	if reset {
		return func(status int) {
			record(status, true)
			if st, ok := r.Context().Value(arrivalKey{}).(*stamp); ok {
				st.reset = true
			}
		}, true
	}
	return func(status int) { record(status, false) }, true
}

// inWindow is how many calls the quota counts in the second before t (the
// gateway's that were not refused, and the other client's admitted ones)
// and when the oldest of them came. Callers hold c.mu.
func (c *Core) inWindow(t time.Time) (n int, oldest time.Time) {
	count := func(at time.Time) {
		if !at.Before(t) || t.Sub(at) >= time.Second {
			return
		}
		if n == 0 || at.Before(oldest) {
			oldest = at
		}
		n++
	}
	for _, cl := range c.calls { // recorded when answered, so not in arrival order
		if cl.Status != http.StatusTooManyRequests {
			count(cl.At)
		}
	}
	for i := len(c.others) - 1; i >= 0 && t.Sub(c.others[i]) < time.Second; i-- {
		count(c.others[i])
	}
	return n, oldest
}

// catchUpOthers makes the other client's calls due before t, each
// admitted when the quota has room for it then. Callers hold c.mu.
func (c *Core) catchUpOthers(t time.Time) {
	if c.otherRate <= 0 {
		return
	}
	step := time.Duration(float64(time.Second) / c.otherRate)
	for ; c.otherNext.Before(t); c.otherNext = c.otherNext.Add(step) {
		if n, _ := c.inWindow(c.otherNext); c.rate > 0 && float64(n) >= c.rate {
			c.otherRefused++
			continue
		}
		c.others = append(c.others, c.otherNext)
	}
}

type arrivalKey struct{}

// stamp is what Stamp keeps about a request: when it arrived, and whether
// its answer is to be lost to a reset connection.
type stamp struct {
	at    time.Time
	reset bool
}

// Stamp wraps a fake's handler so each request records when it arrived,
// before its body is read: the time the quota is measured on. It also
// resets the connection of a call that SetReset chose instead of
// answering it.
func Stamp(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &stamp{at: time.Now()}
		lw := &losable{ResponseWriter: w, st: st}
		h.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), arrivalKey{}, st)))
		if !st.reset {
			return
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // a reset, not an orderly close
				}
				_ = conn.Close()
			}
		}
	})
}

// losable drops what a handler writes once its request's answer is to be
// lost, so Stamp can reset the connection with nothing sent.
type losable struct {
	http.ResponseWriter
	st *stamp
}

func (l *losable) WriteHeader(status int) {
	if !l.st.reset {
		l.ResponseWriter.WriteHeader(status)
	}
}

func (l *losable) Write(b []byte) (int, error) {
	if l.st.reset {
		return len(b), nil
	}
	return l.ResponseWriter.Write(b)
}

// Arrival is when r arrived (see Stamp); now when it was not stamped.
func Arrival(r *http.Request) time.Time {
	if st, ok := r.Context().Value(arrivalKey{}).(*stamp); ok {
		return st.at
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
