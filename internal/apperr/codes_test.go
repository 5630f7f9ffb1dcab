package apperr

import "testing"

// Every kind has its own code, and no code has two rows.
func TestCodesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c.Code] {
			t.Errorf("%s has two rows", c.Code)
		}
		seen[c.Code] = true
	}
	kinds := map[string]Kind{}
	for k := Internal; k <= Unavailable; k++ {
		code := k.Code()
		if other, ok := kinds[code]; ok {
			t.Errorf("%v and %v share %s", k, other, code)
		}
		kinds[code] = k
		if row, ok := Lookup(code); !ok || row.Kind != k {
			t.Errorf("%v: row %+v", k, row)
		}
	}
}
