// Package page is keyset pagination: the request a store receives (how many,
// after which row) and the opaque cursors clients hold. It never builds SQL.
package page

import (
	"encoding/base64"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/apperr"
)

// DefaultMax is the largest page a client may ask for unless configured.
const DefaultMax = 100

// Cursor is a position in one ordered list: the row's sort key and id.
type Cursor struct {
	List string    `json:"l"` // the list and order it belongs to, e.g. "users:EMAIL:ASC"
	Key  string    `json:"k"` // the sort key of the row, as text
	ID   uuid.UUID `json:"i"` // the row's id, the tie-breaker
}

// Encode returns the opaque form of c.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // a struct of strings and a UUID always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// Request is one page: at most First rows after After (nil: from the start).
type Request struct {
	First int
	After *Cursor
}

// Limit is the number of rows a store fetches: one more than First, so the
// extra row tells whether a next page exists.
func (r Request) Limit() int { return r.First + 1 }

// Parse checks a client's first/after for a list. A first outside 1..max and
// a cursor that is not of this list (or not ours at all) are Invalid.
func Parse(first *int, after *string, list string, max int) (Request, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if max <= 0 {
		max = DefaultMax
	}
	if n < 1 || n > max {
		return Request{}, apperr.InvalidField("first", "first must be between 1 and %d", max)
	}
	r := Request{First: n}
	if after == nil || *after == "" {
		return r, nil
	}
	c, err := decode(*after)
	if err != nil || c.List != list {
		return Request{}, apperr.InvalidField("after", "after is not a cursor of this list")
	}
	r.After = &c
	return r, nil
}

func decode(s string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	if c.ID == uuid.Nil {
		return c, apperr.E(apperr.Invalid, "cursor without id")
	}
	return c, nil
}

// Trim cuts rows fetched with r.Limit() to r.First and reports whether more follow.
func Trim[T any](rows []T, r Request) ([]T, bool) {
	if len(rows) > r.First {
		return rows[:r.First], true
	}
	return rows, false
}
