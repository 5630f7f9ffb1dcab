// Package page is keyset pagination: the request a store receives (how many,
// after or before which row, in which direction) and the sealed cursors
// clients hold. It never builds SQL.
//
// A cursor holds a row's sort key, which may be PII (an email, a name), so a
// client never sees it: cursors are sealed with AES-256-GCM (the standard
// library's) under a key the gateway holds, and bound to the list, order and
// caller they were made for. A client can neither read a cursor nor forge or
// move one.
package page

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/config"
)

// DefaultMax is the largest page a client may ask for unless configured:
// MAX_PAGE_SIZE's default.
const DefaultMax = config.DefaultMaxPageSize

// Cursor is a position in one ordered list: the row's sort key and id.
type Cursor struct {
	List string    `json:"-"` // the list and order it belongs to, e.g. "users:EMAIL:ASC"; sealed in as associated data
	Key  string    `json:"k"` // the sort key of the row, as text
	ID   uuid.UUID `json:"i"` // the row's id, the tie-breaker
}

// Request is one page of a list: the rows after After and before Before
// (nil: unbounded on that side); of those, the first First or, when
// Backward (a connection's `last`), the last First.
type Request struct {
	First    int // how many rows: the client's first, or its last when Backward
	After    *Cursor
	Before   *Cursor
	Backward bool
}

// Limit is the number of rows a store fetches: one more than First, so the
// extra row tells whether more follow in the direction read. A backward
// request is read in the reverse of the list's order (the same index,
// walked the other way) from Before or the end.
func (r Request) Limit() int { return r.First + 1 }

// Trim cuts rows fetched with r.Limit(), in the order the store read them,
// to r.First, and reports whether more follow in the direction read. The
// rows of a backward request come back in the list's order, in a new slice:
// rows may be a loader's, which another reader shares.
func Trim[T any](rows []T, r Request) ([]T, bool) {
	more := len(rows) > r.First
	if more {
		rows = rows[:r.First]
	}
	if r.Backward {
		out := make([]T, len(rows))
		for i, v := range rows {
			out[len(rows)-1-i] = v
		}
		rows = out
	}
	return rows, more
}

// Sides returns a page's pageInfo flags, given whether the store found more
// rows in the direction read (Trim's more), as the Relay Cursor Connections
// specification has them: exact in the direction read (hasNextPage for
// first, hasPreviousPage for last); in the other direction, true when the
// page starts from a cursor (the cursor's row came before an `after` page,
// after a `before` page), which costs no statement, and false otherwise.
func (r Request) Sides(more bool) (previous, next bool) {
	if r.Backward {
		return more, r.Before != nil
	}
	return r.After != nil, more
}

// Args are a connection's page arguments as the client gave them; nil: not
// given.
type Args struct {
	First, Last   *int
	After, Before *string
}

// MinSecret is the shortest secret a cursor key may be derived from.
const MinSecret = 32

// Sealer seals and opens cursors. The first key seals; every key opens, so
// a rotated-out key keeps its cursors valid while it stays configured.
type Sealer struct{ keys []sealKey }

type sealKey struct {
	id   [keyIDSize]byte // tells which key sealed a cursor
	aead cipher.AEAD
}

const keyIDSize = 4

// NewSealer derives one key from each secret (HKDF-SHA256); the first seals.
// A secret shorter than MinSecret bytes is an error.
func NewSealer(secrets ...string) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no cursor secret")
	}
	s := &Sealer{}
	for i, secret := range secrets {
		if len(secret) < MinSecret {
			return nil, fmt.Errorf("cursor secret %d is %d bytes, shorter than %d", i+1, len(secret), MinSecret)
		}
		key, err := hkdf.Key(sha256.New, []byte(secret), nil, "gateway cursor key", 32)
		if err != nil {
			return nil, err
		}
		id, err := hkdf.Key(sha256.New, []byte(secret), nil, "gateway cursor key id", keyIDSize)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k := sealKey{aead: aead}
		copy(k.id[:], id)
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// NewEphemeralSealer seals with a random key of this process alone: cursors
// die with it and no other replica opens them. For `gateway dev` and tests.
func NewEphemeralSealer() *Sealer {
	s, err := NewSealer(rand.Text() + rand.Text())
	if err != nil {
		panic(err) // a 52-character secret always derives a key
	}
	return s
}

// Seal returns the opaque form of c for owner (the caller it is made for).
func (s *Sealer) Seal(c Cursor, owner string) string {
	k := s.keys[0]
	plain, _ := json.Marshal(c) // a string and a UUID always marshal
	out := make([]byte, keyIDSize+k.aead.NonceSize(), keyIDSize+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	copy(out, k.id[:])
	_, _ = rand.Read(out[keyIDSize:]) // crypto/rand never fails
	out = k.aead.Seal(out, out[keyIDSize:], plain, associated(c.List, owner))
	return base64.RawURLEncoding.EncodeToString(out)
}

// errNotOurs is what any cursor that does not open answers.
var errNotOurs = errors.New("not a cursor of this list")

// Open returns the cursor that text seals for list and owner.
func (s *Sealer) Open(text, list, owner string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(b) < keyIDSize {
		return Cursor{}, errNotOurs
	}
	for _, k := range s.keys {
		if [keyIDSize]byte(b[:keyIDSize]) != k.id || len(b) < keyIDSize+k.aead.NonceSize() {
			continue
		}
		nonce, sealed := b[keyIDSize:keyIDSize+k.aead.NonceSize()], b[keyIDSize+k.aead.NonceSize():]
		plain, err := k.aead.Open(nil, nonce, sealed, associated(list, owner))
		if err != nil {
			return Cursor{}, errNotOurs
		}
		c := Cursor{List: list}
		if json.Unmarshal(plain, &c) != nil || c.ID == uuid.Nil {
			return Cursor{}, errNotOurs
		}
		return c, nil
	}
	return Cursor{}, errNotOurs
}

// associated binds a cursor to its list and owner.
func associated(list, owner string) []byte {
	return []byte(list + "\x00" + owner)
}

// DefaultFirst is the size of a page when neither first nor last is given.
const DefaultFirst = 20

// Parse checks a client's page arguments for a list, the cursors opened for
// owner. first and last together, a first or last outside 1..max and a
// cursor that is not of this list and owner (or not ours at all) are
// Invalid, naming the argument at fault. first may come with before, and
// last with after: the page is then read between both cursors.
func (s *Sealer) Parse(a Args, list, owner string, max int) (Request, error) {
	if max <= 0 {
		max = DefaultMax
	}
	if a.First != nil && a.Last != nil {
		return Request{}, apperr.InvalidField("last", "first and last cannot be combined: page forward with first and after, backward with last and before")
	}
	r := Request{First: DefaultFirst}
	field := "first"
	switch {
	case a.First != nil:
		r.First = *a.First
	case a.Last != nil:
		r.First, r.Backward, field = *a.Last, true, "last"
	}
	if r.First < 1 || r.First > max {
		return Request{}, apperr.InvalidField(field, "%s must be between 1 and %d", field, max)
	}
	var err error
	if r.After, err = s.open(a.After, "after", list, owner); err != nil {
		return Request{}, err
	}
	if r.Before, err = s.open(a.Before, "before", list, owner); err != nil {
		return Request{}, err
	}
	return r, nil
}

// open opens the cursor argument text (nil or empty: none) named field.
func (s *Sealer) open(text *string, field, list, owner string) (*Cursor, error) {
	if text == nil || *text == "" {
		return nil, nil
	}
	c, err := s.Open(*text, list, owner)
	if err != nil {
		return nil, apperr.InvalidField(field, "%s is not a cursor of this list", field)
	}
	return &c, nil
}
