package httpserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	hlru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"

	"github.com/propertyportal/gateway/internal/config"
)

// Limits bound what one GraphQL request may ask for. Zero values take no
// effect except where noted; Deps carries them from the config.
type Limits struct {
	MaxDepth      int
	MaxAliases    int
	MaxComplexity int
	MaxTokens     int
	MaxBodyBytes  int64 // 1 MiB when zero
	MaxBatch      int   // 0: batching off
	APQCacheSize  int   // 0: automatic persisted queries off
	// Introspection and FieldSuggestions are off unless set (dev sets them).
	Introspection    bool
	FieldSuggestions bool
	// Allowed, when not nil, is the allow-list of persisted operations: the
	// only documents that run, keyed by the hex SHA-256 of their text.
	Allowed map[string]string
}

// LimitsFrom takes the limits from the configuration and loads the
// persisted-operations allow-list when one is configured.
func LimitsFrom(c config.Config) (Limits, error) {
	l := Limits{
		MaxDepth: c.MaxDepth, MaxAliases: c.MaxAliases, MaxComplexity: c.MaxComplexity, MaxTokens: c.MaxTokens,
		MaxBodyBytes: c.MaxBodyBytes, MaxBatch: c.MaxBatch, APQCacheSize: c.APQCacheSize,
		Introspection: c.Introspection, FieldSuggestions: c.FieldSuggestions,
	}
	if c.PersistedOperationsFile != "" {
		ops, err := LoadAllowList(c.PersistedOperationsFile)
		if err != nil {
			return l, fmt.Errorf("config: PERSISTED_OPERATIONS_FILE: %w", err)
		}
		l.Allowed = ops
	}
	return l, nil
}

// LoadAllowList reads a persisted-operations file: a JSON object mapping
// the hex SHA-256 of each operation's text to the text. Every key must be
// its operation's hash.
func LoadAllowList(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ops map[string]string
	if err := json.Unmarshal(b, &ops); err != nil {
		return nil, fmt.Errorf("not a JSON object of hash to operation: %w", err)
	}
	for hash, doc := range ops {
		if sum := sha256.Sum256([]byte(doc)); hex.EncodeToString(sum[:]) != hash {
			return nil, fmt.Errorf("key %.16s… is not the SHA-256 of its operation", hash)
		}
	}
	return ops, nil
}

// tokenLimit refuses a document with more lexical tokens than max before it
// is parsed, so parsing and validation work stays bounded. A document in
// gqlgen's cache of parsed documents (parsed) passed this count before it
// was parsed: it is not lexed again.
type tokenLimit struct {
	max    int
	parsed graphql.Cache[*ast.QueryDocument]
}

func (tokenLimit) ExtensionName() string                   { return "TokenLimit" }
func (tokenLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l tokenLimit) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if _, ok := l.parsed.Get(ctx, p.Query); ok {
		return nil
	}
	lx := lexer.New(&ast.Source{Input: p.Query})
	for n := 0; ; n++ {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return nil // the parser reports lexical errors
		}
		if n >= l.max {
			return codedError(codeTooManyTokens, "the document has more than "+strconv.Itoa(l.max)+" tokens")
		}
	}
}

// passed remembers operations that passed a check whose answer depends on
// the document alone, so that a document gqlgen serves from its cache (the
// same *ast.OperationDefinition) is not walked again. Only passes are kept:
// a refusal's error is made afresh for each request. It holds as many
// operations as gqlgen keeps documents, and is safe for concurrent use.
type passed struct {
	ops *hlru.Cache[*ast.OperationDefinition, struct{}]
}

func newPassed() passed {
	c, _ := hlru.New[*ast.OperationDefinition, struct{}](queryCacheSize)
	return passed{c}
}

func (p passed) has(op *ast.OperationDefinition) bool { return p.ops.Contains(op) }
func (p passed) add(op *ast.OperationDefinition)      { p.ops.Add(op, struct{}{}) }

// allowList lets only the listed operations run: a request names one by its
// hash (extensions.persistedQuery.sha256Hash, as Apollo clients send it) or
// sends a text whose hash is listed.
type allowList struct{ ops map[string]string }

func (allowList) ExtensionName() string                   { return "PersistedOperationAllowList" }
func (allowList) Validate(graphql.ExecutableSchema) error { return nil }

func (a allowList) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	refused := codedError(codeOperationNotAllowed, "only persisted operations may run here")
	if p.Query == "" {
		pq, _ := p.Extensions["persistedQuery"].(map[string]any)
		hash, _ := pq["sha256Hash"].(string)
		doc, ok := a.ops[hash]
		if !ok {
			return refused
		}
		p.Query = doc
		return nil
	}
	sum := sha256.Sum256([]byte(p.Query))
	if _, ok := a.ops[hex.EncodeToString(sum[:])]; !ok {
		return refused
	}
	return nil
}

// noIntrospection refuses __schema and __type before execution when
// introspection is off (gqlgen itself would refuse them only while
// executing). __typename stays allowed.
type noIntrospection struct{ passed passed }

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (n noIntrospection) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil || n.passed.has(op.Operation) {
		return nil
	}
	if introspects(op.Operation.SelectionSet, map[string]bool{}) {
		return codedError(codeIntrospectionOff, "introspection is turned off")
	}
	n.passed.add(op.Operation)
	return nil
}

func introspects(set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if introspects(s.Definition.SelectionSet, seen) {
					return true
				}
			}
		}
	}
	return false
}

// maxCost caps a cost (and an alias count) so deep nesting cannot overflow.
const maxCost = 1 << 40

// times returns 1 + n*child, saturating at maxCost.
func times(n, child int) int {
	if child >= maxCost/n {
		return maxCost
	}
	return min(1+n*child, maxCost)
}

// plus adds two counts, saturating at maxCost.
func plus(a, b int) int { return min(a+b, maxCost) }

// costed gives the schema its field costs: a field costs 1 plus its
// children; a page (a field taking `first` and `last`) costs its children
// as many times as the larger of the two (the schema's default when
// neither is given, maxPage when one is null, at most maxPage); `nodes`
// costs its children once per id; any other list costs its children
// listCost times.
type costed struct {
	graphql.ExecutableSchema
	maxPage int
}

// listCost is the assumed length of a list without a `first` argument
// (a building's contacts, a contact's buildings).
const listCost = 10

func (c costed) Complexity(ctx context.Context, typeName, field string, child int, args map[string]any) (int, bool) {
	def := c.Schema().Types[typeName]
	var f *ast.FieldDefinition
	if def != nil {
		f = def.Fields.ForName(field)
	}
	if f != nil && f.Arguments.ForName("first") != nil {
		return times(c.pageSize(args), child), true
	}
	if ids, ok := args["ids"].([]any); ok && f != nil && f.Type.Elem != nil {
		return times(max(len(ids), 1), child), true
	}
	// A connection's edges were counted on the connection.
	if f != nil && f.Type.Elem != nil && !strings.HasSuffix(typeName, "Connection") {
		return times(listCost, child), true
	}
	return times(1, child), true
}

// pageSize is the most items a page of args may hold: the larger of
// first and last, within [1, maxPage]; maxPage when either is present
// without a number (null), as the resolver may then use the largest.
func (c costed) pageSize(args map[string]any) int {
	n, known := 0, false
	for _, name := range []string{"first", "last"} {
		v, present := args[name]
		if !present {
			continue
		}
		k, ok := firstArg(v)
		if !ok {
			return c.maxPage
		}
		n, known = max(n, k), true
	}
	if !known {
		return c.maxPage
	}
	return min(max(n, 1), c.maxPage)
}

// operationLimit refuses an operation nested deeper than maxDepth, with
// more aliases than maxAliases, or costing more than maxComplexity (as
// costed counts it); zero turns a limit off. Counts go through fragment
// spreads as execution would expand them, but each fragment is measured
// once and its figures reused, so the work is linear in the document's
// size whatever its spread structure. An operation without variables
// weighs the same each time it is sent: once it passed, it is not measured
// again.
//
// Where introspection is on (introspection), an operation that selects
// only introspection (__schema, __type and __typename at its root, also
// through fragments) is not held to the depth and complexity limits: they
// bound data, and GraphiQL's own introspection query is 15 deep. What
// bounds such an operation instead: MAX_TOKENS and the body limit (its
// size), validation's MaxIntrospectionDepth rule (no more than two of
// __Type's lists nested, so no cycle through the schema), and the alias
// limit, which still applies, since each alias of __schema is another copy
// of the schema. Where introspection is off nothing is exempt (and
// noIntrospection refuses __schema and __type before this runs).
type operationLimit struct {
	maxDepth, maxAliases, maxComplexity int
	introspection                       bool
	schema                              costed
	passed                              passed
}

func (operationLimit) ExtensionName() string                   { return "OperationLimit" }
func (operationLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l operationLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	constant := len(op.Operation.VariableDefinitions) == 0 // no variable can change a `first`
	if constant && l.passed.has(op.Operation) {
		return nil
	}
	m := measurer{ctx: ctx, schema: l.schema, vars: op.Variables, fragments: map[*ast.FragmentDefinition]*figures{}}
	f := m.set(op.Operation.SelectionSet)
	if ctx.Err() != nil {
		return codedError(codeTimeout, "the request took too long")
	}
	exempt := l.introspection && !f.data // introspection only
	if l.maxDepth > 0 && f.depth > l.maxDepth && !exempt {
		return codedError(codeTooDeep, fmt.Sprintf("the operation is nested %d deep, more than the limit of %d", f.depth, l.maxDepth))
	}
	if l.maxAliases > 0 && f.aliases > l.maxAliases {
		return codedError(codeTooManyAliases, fmt.Sprintf("the operation has %s aliases, more than the limit of %d", count(f.aliases), l.maxAliases))
	}
	if l.maxComplexity > 0 && f.cost > l.maxComplexity && !exempt {
		return codedError(codeTooComplex, fmt.Sprintf("the operation costs %s, more than the limit of %d", count(f.cost), l.maxComplexity))
	}
	if constant {
		l.passed.add(op.Operation)
	}
	return nil
}

// count writes a saturated count as "more than" its cap.
func count(n int) string {
	if n >= maxCost {
		return "more than " + strconv.Itoa(maxCost)
	}
	return strconv.Itoa(n)
}

// figures are what a selection set weighs: its depth (fields, not
// fragments, add a level), the aliases in it and its cost; data is whether
// it selects any field that is not introspection.
type figures struct {
	depth, aliases, cost int
	data                 bool
}

// measurer measures selection sets, each fragment once.
type measurer struct {
	ctx       context.Context
	schema    costed
	vars      map[string]any
	fragments map[*ast.FragmentDefinition]*figures // nil value: being measured
	visits    int
}

func (m *measurer) set(set ast.SelectionSet) figures {
	var f figures
	for _, sel := range set {
		if m.visits++; m.visits%1024 == 0 && m.ctx.Err() != nil {
			return f // the caller reports the deadline
		}
		var g figures
		switch s := sel.(type) {
		case *ast.Field:
			g = m.field(s)
		case *ast.InlineFragment:
			g = m.set(s.SelectionSet)
		case *ast.FragmentSpread:
			g = m.fragment(s.Definition)
		}
		f.depth = max(f.depth, g.depth)
		f.aliases = plus(f.aliases, g.aliases)
		f.cost = plus(f.cost, g.cost)
		f.data = f.data || g.data
	}
	return f
}

// fragment returns a fragment's figures, measuring it the first time.
// Validation has refused cycles; one met anyway weighs nothing more.
func (m *measurer) fragment(def *ast.FragmentDefinition) figures {
	if def == nil {
		return figures{}
	}
	if f, seen := m.fragments[def]; seen {
		if f == nil {
			return figures{}
		}
		return *f
	}
	m.fragments[def] = nil
	f := m.set(def.SelectionSet)
	m.fragments[def] = &f
	return f
}

// field measures a field and what it selects. Introspection's __schema
// costs nothing, as in gqlgen's own calculation; its depth and aliases
// still count.
func (m *measurer) field(s *ast.Field) figures {
	child := m.set(s.SelectionSet)
	f := figures{depth: child.depth + 1, aliases: child.aliases, data: child.data || !introspection(s)}
	if s.Alias != "" && s.Alias != s.Name {
		f.aliases = plus(f.aliases, 1)
	}
	if s.Definition == nil || s.ObjectDefinition == nil || s.Definition.Type.Name() == "__Schema" {
		return f
	}
	args := s.ArgumentMap(m.vars)
	owners := []*ast.Definition{s.ObjectDefinition}
	if s.ObjectDefinition.Kind == ast.Interface || s.ObjectDefinition.Kind == ast.Union {
		// An abstract type has no field costs of its own: the dearest implementation counts.
		owners = m.schema.Schema().GetPossibleTypes(s.ObjectDefinition)
	}
	for _, o := range owners {
		c, ok := m.schema.Complexity(m.ctx, o.Name, s.Name, child.cost, args)
		if !ok || c < 1 {
			c = plus(1, child.cost)
		}
		f.cost = max(f.cost, c)
	}
	return f
}

// introspection reports whether a field is introspection: __schema,
// __type or __typename, or a field of one of the introspection types
// (whose fields only ever lead to introspection types). A field validation
// did not resolve counts as data.
func introspection(s *ast.Field) bool {
	switch s.Name {
	case "__schema", "__type", "__typename":
		return true
	}
	return s.ObjectDefinition != nil && strings.HasPrefix(s.ObjectDefinition.Name, "__")
}

func firstArg(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}
