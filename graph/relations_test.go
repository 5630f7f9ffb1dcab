package graph

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// TestEveryRelationIsPlanned fails when a field of a node type reaches
// objects but the planner's table does not say how to load it (it would
// answer null without a word), or when the table names a field the schema
// no longer has.
func TestEveryRelationIsPlanned(t *testing.T) {
	schema := NewSchema(&Resolver{}).Schema()
	nodes := []string{"User", "Contact", "Building", "BuildingContact", "Invoice"}
	for _, typ := range nodes {
		for _, f := range schema.Types[typ].Fields {
			target := schema.Types[f.Type.Name()]
			if target == nil || (target.Kind != ast.Object && target.Kind != ast.Interface && target.Kind != ast.Union) {
				continue
			}
			rel, ok := relations[typ+"."+f.Name]
			if !ok {
				t.Errorf("%s.%s reaches %s but is not in relations", typ, f.Name, target.Name)
				continue
			}
			want := target.Name
			if rel.paged {
				want = strings.TrimSuffix(target.Name, "Connection")
			}
			if rel.child != want {
				t.Errorf("%s.%s: relations says it reaches %s, the schema %s", typ, f.Name, rel.child, want)
			}
		}
	}
	for coord := range relations {
		typ, field, _ := strings.Cut(coord, ".")
		if def := schema.Types[typ]; def == nil || def.Fields.ForName(field) == nil {
			t.Errorf("relations has %s, which the schema does not", coord)
		}
	}
}
