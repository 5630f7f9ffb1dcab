package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/propertyportal/gateway/graph/model"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/page"
	"github.com/propertyportal/gateway/internal/policy"
	"github.com/propertyportal/gateway/internal/property"
)

// A resolver that returns objects hands them to the planner with the fields
// its operation selects on them. The planner loads, a level at a time, every
// relation those fields select (relations.go says how, for each one): one
// batch for all the objects of a level, whatever their number, then the same
// below the children it attached. When it returns, every object carries what
// the operation reads of it, so gqlgen marshals the result without calling
// back into resolvers, loaders or a timer. It also decides, once per object,
// what PII the caller may read of it.
type planner struct {
	ctx   context.Context
	op    *graphql.OperationContext
	r     *Resolver
	l     *loader.Loaders
	scope access.Scope
	pages pages
	// sight is what every object shows a caller with broad sight; a
	// provider's objects get theirs per level.
	sight policy.Sight
}

// plannerFor returns the planner of the request of ctx, which must be a
// resolver's.
func (r *Resolver) plannerFor(ctx context.Context) (*planner, error) {
	s, err := scopeOf(ctx)
	if err != nil {
		return nil, err
	}
	l := loader.For(ctx)
	if l == nil || !graphql.HasOperationContext(ctx) {
		return nil, apperr.E(apperr.Unauthenticated, "sign-in required")
	}
	p := &planner{ctx: ctx, op: graphql.GetOperationContext(ctx), r: r, l: l, scope: s, pages: r.pagesFor(s)}
	if policy.Broad(s) {
		p.sight = policy.SeeAll
	}
	return p, nil
}

// selected returns the fields that the resolver field of the planner's
// context selects on typ.
func (p *planner) selected(typ string) []graphql.CollectedField {
	fc := graphql.GetFieldContext(p.ctx)
	if fc == nil {
		return nil
	}
	return p.collect(fc.Field.Selections, typ)
}

// selectedNodes returns the fields selected under edges.node of the
// connection of typ that the resolver field of the planner's context returns.
func (p *planner) selectedNodes(typ string) []graphql.CollectedField {
	fc := graphql.GetFieldContext(p.ctx)
	if fc == nil {
		return nil
	}
	return p.nodes(fc.Field.Selections, typ)
}

// collect follows gqlgen's field collection (fragments, @skip, @include),
// fragments on an interface of typ (Node) included.
func (p *planner) collect(sels ast.SelectionSet, typ string) []graphql.CollectedField {
	if s, ok := satisfies[typ]; ok {
		return graphql.CollectFields(p.op, sels, s)
	}
	return graphql.CollectFields(p.op, sels, []string{typ})
}

// satisfies names, for the types that implement an interface, the types a
// fragment may be on to apply to them (gqlgen's generated lists).
var satisfies = map[string][]string{
	"User": userImplementors, "Contact": contactImplementors,
	"Building": buildingImplementors, "Invoice": invoiceImplementors,
}

// nodes returns the fields selected under edges.node of a connection of typ.
func (p *planner) nodes(sels ast.SelectionSet, typ string) []graphql.CollectedField {
	var node ast.SelectionSet
	for _, e := range p.collect(sels, typ+"Connection") {
		if e.Name != "edges" {
			continue
		}
		for _, n := range p.collect(e.Selections, typ+"Edge") {
			if n.Name == "node" {
				node = append(node, n.Selections...)
			}
		}
	}
	if node == nil {
		return nil
	}
	return p.collect(node, typ)
}

// plan loads what fields select below items, objects of type typ.
func (p *planner) plan(typ string, items []any, fields []graphql.CollectedField) error {
	if len(items) == 0 || len(fields) == 0 {
		return nil
	}
	if see := sights[typ]; see != nil && p.sight != policy.SeeAll && readsGuardedPII(fields) {
		if err := see(p, items); err != nil {
			return err
		}
	}
	type group struct {
		rel  relation
		name string
		args pageArgs
		sels ast.SelectionSet
	}
	var groups []*group
	for _, f := range fields {
		rel, ok := relations[typ+"."+f.Name]
		if !ok {
			continue
		}
		var args pageArgs
		if rel.paged {
			args = pageArgsOf(f.Field, p.op.Variables)
		}
		var g *group
		for _, have := range groups {
			if have.name == f.Name && have.args.key == args.key {
				g = have
			}
		}
		if g == nil {
			g = &group{rel: rel, name: f.Name, args: args}
			groups = append(groups, g)
		}
		g.sels = append(g.sels, f.Selections...)
	}
	for _, g := range groups {
		children, err := p.load(typ, g.name, g.rel, items, g.args)
		if err != nil {
			return err
		}
		sub := p.collect(g.sels, g.rel.child)
		if g.rel.paged {
			sub = p.nodes(g.sels, g.rel.child)
		}
		if err := p.plan(g.rel.child, children, sub); err != nil {
			return err
		}
	}
	return nil
}

// load loads one relation for a level, in a span of its own when the
// request is traced (a caller's sampled trace; nothing is computed otherwise).
func (p *planner) load(typ, field string, rel relation, items []any, args pageArgs) ([]any, error) {
	parent := trace.SpanFromContext(p.ctx)
	if !parent.SpanContext().IsSampled() {
		return rel.load(p.ctx, p, items, args)
	}
	ctx, span := parent.TracerProvider().Tracer("github.com/propertyportal/gateway/graph").Start(p.ctx, "graphql.plan "+typ+"."+field,
		trace.WithAttributes(attribute.Int("graphql.plan.parents", len(items))))
	defer span.End()
	children, err := rel.load(ctx, p, items, args)
	if err != nil {
		span.SetStatus(codes.Error, "load failed")
	}
	return children, err
}

// readsGuardedPII reports whether fields read PII that not every caller
// may read (names every caller may).
func readsGuardedPII(fields []graphql.CollectedField) bool {
	for _, f := range fields {
		if f.Definition == nil {
			continue
		}
		if d := f.Definition.Directives.ForName("pii"); d != nil {
			if k := d.Arguments.ForName("kind"); k != nil && k.Value != nil && k.Value.Raw != string(policy.Name) {
				return true
			}
		}
	}
	return false
}

// pageArgs are a paged field's arguments: key, its evaluated arguments
// (schema defaults applied), which its page is planned and found by; and
// ask, what the client asked for.
type pageArgs struct {
	key model.PageArgs
	ask page.Args
}

// pageArgsOf reads a paged field's arguments.
func pageArgsOf(f *ast.Field, vars map[string]any) pageArgs {
	key := pageKey(f.ArgumentMap(vars))
	a := page.Args{}
	if key.HasFirst {
		a.First = &key.First
	}
	if key.HasLast {
		a.Last = &key.Last
	}
	if key.After != "" {
		a.After = &key.After
	}
	if key.Before != "" {
		a.Before = &key.Before
	}
	return pageArgs{key: key, ask: asked(f, vars, a)}
}

// pageKey is the key of the page a field's evaluated arguments ask for,
// read without allocating: the writer reads it for every parent.
func pageKey(args map[string]any) model.PageArgs {
	var k model.PageArgs
	k.First, k.HasFirst = intArg(args["first"])
	k.Last, k.HasLast = intArg(args["last"])
	k.After, _ = args["after"].(string)
	k.Before, _ = args["before"].(string)
	return k
}

// asked drops first's schema default from a when the client gave last and
// not first, so that `last: 5` alone pages backward; first and last both
// given stay, for page.Parse to refuse.
func asked(f *ast.Field, vars map[string]any, a page.Args) page.Args {
	if a.First == nil || a.Last == nil {
		return a
	}
	arg := f.Arguments.ForName("first")
	switch {
	case arg == nil:
		a.First = nil
	case arg.Value != nil && arg.Value.Kind == ast.Variable:
		if _, given := vars[arg.Value.Raw]; !given {
			a.First = nil
		}
	}
	return a
}

func intArg(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	}
	return 0, false
}

// The objects of a level, as the API shows them to this caller.

func (p *planner) user(u *directory.User) *model.User {
	return &model.User{User: u, Sight: p.sight}
}

func (p *planner) contact(c *comms.Contact) *model.Contact {
	return &model.Contact{Contact: c, Sight: p.sight}
}

func (p *planner) building(b *property.Building) *model.Building {
	return &model.Building{Building: b}
}

func (p *planner) invoice(inv *bookkeeping.Invoice) *model.Invoice {
	return &model.Invoice{Invoice: inv}
}

// planOne plans below one object a resolver returns (nil plans nothing).
func planOne[D any, N any](p *planner, typ string, v *D, wrap func(*planner, *D) N) (N, error) {
	var zero N
	if v == nil {
		return zero, nil
	}
	n := wrap(p, v)
	if err := p.plan(typ, []any{n}, p.selected(typ)); err != nil {
		return zero, err
	}
	return n, nil
}

// sights decides, for the objects of a level of a type with PII, what the
// caller may read of each.
var sights = map[string]func(p *planner, items []any) error{
	"User": func(p *planner, items []any) error {
		us := make([]*directory.User, len(items))
		for i, x := range items {
			us[i] = x.(*model.User).User
		}
		seen, err := policy.UserSights(p.ctx, p.scope, p.l, us)
		for _, x := range items {
			u := x.(*model.User)
			u.Sight = seen[u.ID]
		}
		return err
	},
	"Contact": func(p *planner, items []any) error {
		cs := make([]*comms.Contact, len(items))
		for i, x := range items {
			cs[i] = x.(*model.Contact).Contact
		}
		seen, err := policy.ContactSights(p.ctx, p.scope, p.l, cs)
		for _, x := range items {
			c := x.(*model.Contact)
			c.Sight = seen[c.ID]
		}
		return err
	},
}
