package comms

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/config"
)

// Length limits of contact fields, in characters.
const (
	MaxNameLen  = 200
	MaxEmailLen = 254 // RFC 5321's limit on a forward path
	MaxPhoneLen = 32  // as typed, before normalisation
	MaxRoleLen  = 50
)

// DefaultRegion is the region a phone number without a country code is read
// in when none is configured (ISO 3166-1 alpha-2): PHONE_DEFAULT_REGION's
// default.
const DefaultRegion = config.DefaultPhoneRegion

// The messages below never echo the value: it is PII.

// checkText trims a short text such as a name or a role and checks its
// length (1 to max characters) and that it has no control characters.
func checkText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if n := utf8.RuneCountInString(v); n < 1 || n > max {
		return "", apperr.InvalidField(field, "%s must be 1 to %d characters", field, max)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", apperr.InvalidField(field, "%s must not contain control characters", field)
	}
	return v, nil
}

// NormalizeEmail checks that v is one plain address (local@domain, no
// display name) and returns it trimmed, with the domain lower-cased. The
// local part keeps its case: RFC 5321 leaves it to the receiving domain.
func NormalizeEmail(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	bad := apperr.InvalidField(field, "%s must be an email address such as name@example.com", field)
	if v == "" || len(v) > MaxEmailLen {
		return "", bad
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v {
		return "", bad
	}
	at := strings.LastIndexByte(v, '@')
	local, domain := v[:at], strings.ToLower(v[at+1:])
	if len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.ContainsAny(domain, "[]") {
		return "", bad
	}
	return local + "@" + domain, nil
}

// NormalizePhone parses v (in region when it has no country code) and
// returns it in E.164 form, e.g. +4930123456. It must be a valid number.
func NormalizePhone(field, v, region string) (string, error) {
	v = strings.TrimSpace(v)
	bad := apperr.InvalidField(field, "%s must be a valid phone number, with its country code unless it is in %s", field, region)
	if v == "" || utf8.RuneCountInString(v) > MaxPhoneLen {
		return "", bad
	}
	n, err := phonenumbers.Parse(v, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", bad
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// ValidRegion reports whether region is a region phonenumbers knows, e.g. DE.
func ValidRegion(region string) bool {
	return phonenumbers.GetCountryCodeForRegion(region) != 0
}

// ContactInput is what createContact and updateContact send. Nil fields are
// left as they are (update) or empty (create); in an update an empty email
// or phone clears it.
type ContactInput struct {
	FullName *string
	Email    *string
	Phone    *string
}

// normalize checks in and puts its values in canonical form. create requires
// a name. Invalid names the field at fault (under prefix, e.g. "input").
func (in *ContactInput) normalize(prefix, region string, create bool) error {
	if in.FullName == nil && create {
		return apperr.InvalidField(prefix+".fullName", "%s.fullName is required", prefix)
	}
	if in.FullName != nil {
		v, err := checkText(prefix+".fullName", *in.FullName, MaxNameLen)
		if err != nil {
			return err
		}
		in.FullName = &v
	}
	if in.Email != nil && strings.TrimSpace(*in.Email) != "" {
		v, err := NormalizeEmail(prefix+".email", *in.Email)
		if err != nil {
			return err
		}
		in.Email = &v
	} else if in.Email != nil {
		in.Email = new(string)
	}
	if in.Phone != nil && strings.TrimSpace(*in.Phone) != "" {
		v, err := NormalizePhone(prefix+".phone", *in.Phone, region)
		if err != nil {
			return err
		}
		in.Phone = &v
	} else if in.Phone != nil {
		in.Phone = new(string)
	}
	return nil
}
