package logging

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The replacements say which type was redacted, never the value.
const (
	RedactedEmail  = "[redacted:email]"
	RedactedPhone  = "[redacted:phone]"
	RedactedToken  = "[redacted:token]"
	RedactedName   = "[redacted:name]"
	RedactedSecret = "[redacted:secret]"
)

var (
	emailRe = regexp.MustCompile(`(?i)[a-z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+`)
	jwtRe   = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*`)
	// A credential after an auth scheme: "Bearer abc", "Basic dXNlcg==".
	schemeRe = regexp.MustCompile(`(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}(?:\s+[A-Za-z0-9._~+/=-]{8,})*`)
	// A phone number candidate: digits with the usual separators; checked
	// further in phone below.
	phoneRe = regexp.MustCompile(`\+?\(?\d[\d\s().-]{5,22}\d`)
	uuidRe  = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	dateRe  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}|^\d{1,2}:\d{2}`)
)

// Redact redacts the PII and credentials that s contains by their shape.
func Redact(s string) string {
	if s == "" || plain(s) {
		return s
	}
	return byPatterns(s)
}

// byPatterns is Redact by the regular expressions alone.
func byPatterns(s string) string {
	s = jwtRe.ReplaceAllString(s, RedactedToken)
	s = schemeRe.ReplaceAllStringFunc(s, func(m string) string {
		scheme, _, _ := strings.Cut(m, " ")
		return scheme + " " + RedactedToken
	})
	s = emailRe.ReplaceAllString(s, RedactedEmail)
	return phones(s)
}

// plain reports whether s has nothing any pattern of Redact could redact,
// in one pass and without allocating, so that the ids, routes and counts
// of most log lines skip the regular expressions. It answers false whenever
// it is unsure: for any byte outside ASCII (case folding lets "ſ" and the
// Kelvin sign match the schemes), an "@" (email), "eyJ" (a JWT), a scheme
// word with whitespace in s (a credential), or a run of phoneRe's
// characters with 7 digits or more (isPhone's least) unless it is digits
// alone, at most one match long, glued to a letter or "_" and not after a
// "+" (an id such as a hex request id, which isPhone keeps).
func plain(s string) bool {
	space := false
	run, digits, pure := 0, 0, true // the run of phoneRe's characters: where it starts
	for i := 0; i <= len(s); i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		switch {
		case i < len(s) && (c >= 0x80 || c == '@'):
			return false
		case i < len(s) && '0' <= c && c <= '9':
			digits++
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r':
			space, pure = true, false
			continue
		case c == '(' || c == ')' || c == '.' || c == '-':
			pure = false
			continue
		}
		// The run ends before i.
		signed := run > 0 && s[run-1] == '+' // isPhone takes "+" and digits glued to a letter
		if digits >= 7 && (signed || !pure || i-run > 24 || !(run > 0 && word(s[run-1]) || i < len(s) && word(c))) {
			return false
		}
		run, digits, pure = i+1, 0, true
	}
	if strings.Contains(s, "eyJ") {
		return false
	}
	return !space || !(containsFold(s, "bearer") || containsFold(s, "basic") || containsFold(s, "token"))
}

// word reports whether c glues a number to an id for isPhone.
func word(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

// containsFold reports whether the ASCII string s holds word (lower case)
// in any case.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// phones redacts phone numbers: 7 to 15 digits (E.164's range) in one run of
// digits and separators, that is not part of a UUID, a date or a time, nor
// glued to letters (hex ids).
func phones(s string) string {
	locs := phoneRe.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	uuids := uuidRe.FindAllStringIndex(s, -1)
	var b strings.Builder
	last := 0
	for _, l := range locs {
		start, end := l[0], l[1]
		m := s[start:end]
		if !isPhone(s, m, start, end, uuids) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(RedactedPhone)
		last = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isPhone(s, m string, start, end int, uuids [][]int) bool {
	digits := 0
	for _, r := range m {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	if digits < 7 || digits > 15 || dateRe.MatchString(m) {
		return false
	}
	for _, u := range uuids {
		if start < u[1] && end > u[0] {
			return false
		}
	}
	glued := func(i int) bool {
		r := rune(s[i])
		if (r == '-' || r == '|' || r == ':') && i > 0 {
			r = rune(s[i-1])
		}
		return unicode.IsLetter(r) || r == '_' || r == '.'
	}
	if (start > 0 && glued(start-1)) || (end < len(s) && glued(end)) {
		// A number glued to letters is an id (hex, "ext-1234567") rather
		// than a phone number, unless it starts with a plus.
		return strings.HasPrefix(m, "+")
	}
	return true
}

// keyKind returns the replacement for a sensitive attribute key, or "".
func keyKind(key string) string {
	var buf [32]byte
	folded := buf[:0]
	for i := 0; i < len(key); {
		if c := key[i]; c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				folded = append(folded, c)
			case 'A' <= c && c <= 'Z':
				folded = append(folded, c+'a'-'A')
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(key[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			folded = utf8.AppendRune(folded, unicode.ToLower(r))
		}
		i += n
	}
	k := string(folded) // it does not escape: a short key stays on the stack
	switch {
	case strings.Contains(k, "email") || k == "mail":
		return RedactedEmail
	case strings.Contains(k, "phone") || k == "mobile" || k == "tel":
		return RedactedPhone
	case strings.Contains(k, "token") || strings.Contains(k, "authorization") || strings.Contains(k, "bearer") ||
		strings.Contains(k, "jwt") || strings.Contains(k, "cookie") || k == "credential" || k == "credentials":
		return RedactedToken
	case strings.Contains(k, "secret") || strings.Contains(k, "password") || strings.Contains(k, "apikey") ||
		strings.Contains(k, "signature") || strings.Contains(k, "clientstate"):
		return RedactedSecret
	case k == "name" || k == "fullname" || k == "firstname" || k == "lastname" || k == "givenname" ||
		k == "familyname" || k == "displayname" || k == "username" || k == "nickname" || k == "surname":
		return RedactedName
	}
	return ""
}

// Redactor redacts every record before the wrapped handler sees it.
type Redactor struct{ next slog.Handler }

// NewRedactor wraps next.
func NewRedactor(next slog.Handler) *Redactor { return &Redactor{next: next} }

// Enabled reports what the wrapped handler reports.
func (h *Redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle redacts the message and every attribute, then hands the record on.
func (h *Redactor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(RedactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs once, when they are attached.
func (h *Redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = RedactAttr(a)
	}
	return &Redactor{next: h.next.WithAttrs(red)}
}

// WithGroup opens a group on the wrapped handler.
func (h *Redactor) WithGroup(name string) slog.Handler {
	return &Redactor{next: h.next.WithGroup(name)}
}

// RedactAttr returns a with its value redacted: by key, then by shape.
func RedactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		attrs := v.Group()
		red := make([]slog.Attr, len(attrs))
		for i, g := range attrs {
			red[i] = RedactAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	}
	if kind := keyKind(a.Key); kind != "" {
		return slog.String(a.Key, kind)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Redact(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, Redact(x.String()))
		case map[string]int, []int, int, bool, float64:
			return slog.Attr{Key: a.Key, Value: v}
		case []byte:
			return slog.String(a.Key, Redact(string(x)))
		default:
			return slog.String(a.Key, Redact(fmt.Sprintf("%+v", x)))
		}
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
