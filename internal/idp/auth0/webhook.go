package auth0

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/idp/delivery"
)

// Auth0 has no per-event webhooks: a Custom Webhook log stream POSTs tenant
// log events, in the content format chosen for the stream (a JSON array,
// JSON lines, or one JSON object per request). Auth0 sends the stream's
// configured "Authorization Token" as the Authorization header, verbatim.
// The events that change a user:
//   - "sapi" (successful Management API operation) with details.request
//     PATCH or PUT /api/v2/users/{id}: an update; the new values come from
//     details.response.body (the user as saved), else details.request.body;
//   - "sapi" with DELETE /api/v2/users/{id}, or "sdu" (successful user
//     deletion): a deletion.
//
// Each event's log_id is its id and its date is when it happened.
type Verifier struct {
	id     string
	token  string
	window time.Duration
}

// NewVerifier returns the verifier of adapter id's log stream, whose
// Authorization token is token; events older than window are refused.
func NewVerifier(id, token string, window time.Duration) *Verifier {
	return &Verifier{id: id, token: token, window: window}
}

// Log is one log event as a log stream sends it: {"log_id", "data"},
// or the bare event.
type Log struct {
	LogID string   `json:"log_id"`
	Data  *LogData `json:"data"`
}

// LogData is the fields of a log event that the cache needs.
type LogData struct {
	LogID   string    `json:"log_id"`
	Date    time.Time `json:"date"`
	Type    string    `json:"type"`
	UserID  string    `json:"user_id"`
	Details struct {
		Request struct {
			Method string          `json:"method"`
			Path   string          `json:"path"`
			Body   json.RawMessage `json:"body"`
		} `json:"request"`
		Response struct {
			Body json.RawMessage `json:"body"`
		} `json:"response"`
	} `json:"details"`
}

type logUser struct {
	UserID string  `json:"user_id"`
	Email  *string `json:"email"`
	Name   *string `json:"name"`
}

func (a Verifier) Changes(r *http.Request, body []byte, now time.Time) ([]directory.Change, error) {
	if !delivery.Equal(r.Header.Get("Authorization"), a.token) {
		return nil, fmt.Errorf("%w: authorization token mismatch", delivery.ErrUnauthorized)
	}
	logs, err := decodeLogs(body)
	if err != nil {
		return nil, fmt.Errorf("%w: want log events as a JSON array, JSON lines or a JSON object", delivery.ErrBadRequest)
	}
	var out []directory.Change
	for _, l := range logs {
		c, ok := a.change(l)
		if !ok {
			continue
		}
		if !delivery.Within(c.OccurredAt, now, a.window) {
			c = delivery.Outside(c)
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeLogs reads the three content formats of a log stream.
func decodeLogs(body []byte) ([]Log, error) {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if bytes.HasPrefix(body, []byte("[")) {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, err
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			raws = append(raws, raw)
		}
	}
	if len(raws) == 0 {
		return nil, errors.New("no events")
	}
	logs := make([]Log, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &logs[i]); err != nil {
			return nil, err
		}
		if logs[i].Data == nil { // a bare event
			logs[i].Data = new(LogData)
			if err := json.Unmarshal(raw, logs[i].Data); err != nil {
				return nil, err
			}
		}
	}
	return logs, nil
}

// change maps one log event to a change of the cache; false for events that
// change no user.
func (a Verifier) change(l Log) (directory.Change, bool) {
	d := l.Data
	id := l.LogID
	if id == "" {
		id = d.LogID
	}
	c := directory.Change{IdPID: a.id, EventID: id, OccurredAt: d.Date}
	if id == "" || d.Date.IsZero() {
		return c, false
	}
	switch d.Type {
	case "sdu":
		c.Type, c.ExternalID = directory.ChangeDeleted, d.UserID
		return c, c.ExternalID != ""
	case "sapi":
	default:
		return c, false
	}
	user, ok := auth0UserPath(d.Details.Request.Path)
	if !ok {
		return c, false
	}
	c.ExternalID = user
	switch strings.ToLower(d.Details.Request.Method) {
	case "delete":
		c.Type = directory.ChangeDeleted
	case "patch", "put":
		c.Type = directory.ChangeUpdated
		var u logUser
		if json.Unmarshal(d.Details.Response.Body, &u) != nil || u.UserID != user {
			u = logUser{}
			_ = json.Unmarshal(d.Details.Request.Body, &u)
		}
		c.Email, c.FullName = u.Email, u.Name
		if c.Email == nil && c.FullName == nil {
			return c, false // e.g. app_metadata only: nothing cached changed
		}
	default:
		return c, false
	}
	return c, true
}

// auth0UserPath returns the user id of a Management API path
// /api/v2/users/{id} (the id path-escaped, e.g. auth0%7C123).
func auth0UserPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/api/v2/users/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	id, err := url.PathUnescape(rest)
	return id, err == nil && id != ""
}
