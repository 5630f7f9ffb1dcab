package providers

import (
	"fmt"
	"os"
	"regexp"

	"github.com/goccy/go-yaml"

	"github.com/propertyportal/gateway/internal/idp"
)

// File is the IdP configuration file.
type File struct {
	IdPs []idp.Config `yaml:"idps"`
}

// LoadFile reads and checks the configuration file at path. A value written
// ${NAME} is taken from the environment through getenv (secrets stay out of
// the file; a deployment overrides any value); an unset NAME is an error.
// An error names the adapter and the field at fault.
func LoadFile(path string, getenv func(string) string) ([]idp.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("idp config: %w", err)
	}
	b, err = expand(b, getenv)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces every ${NAME} with the environment's value of NAME.
func expand(doc []byte, getenv func(string) string) ([]byte, error) {
	var missing string
	out := envRef.ReplaceAllFunc(doc, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v := getenv(name)
		if v == "" && missing == "" {
			missing = name
		}
		return []byte(v)
	})
	if missing != "" {
		return nil, fmt.Errorf("idp config: ${%s} is referenced but the environment variable is not set", missing)
	}
	return out, nil
}

// Parse reads and checks a configuration document. Unknown fields are errors,
// so a typo never silently weakens verification.
func Parse(doc []byte) ([]idp.Config, error) {
	var f File
	if err := yaml.UnmarshalWithOptions(doc, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("idp config: %v", yaml.FormatError(err, false, false))
	}
	if len(f.IdPs) == 0 {
		return nil, fmt.Errorf("idp config: no idps")
	}
	seenID, seenIssuer := map[string]bool{}, map[string]bool{}
	for i := range f.IdPs {
		c := &f.IdPs[i]
		if err := Normalize(c); err != nil {
			return nil, err
		}
		if seenID[c.ID] {
			return nil, fmt.Errorf("idp %q: id: used twice", c.ID)
		}
		if seenIssuer[c.Issuer] {
			return nil, fmt.Errorf("idp %q: issuer: used by another adapter", c.ID)
		}
		seenID[c.ID], seenIssuer[c.Issuer] = true, true
	}
	if err := idp.CheckMigrations(f.IdPs); err != nil {
		return nil, err
	}
	return f.IdPs, nil
}
