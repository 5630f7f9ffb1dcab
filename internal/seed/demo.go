package seed

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/postgres"
)

// DemoUser is a demo user whose credentials a caller can print or sign a
// dev token for.
type DemoUser struct {
	ID         uuid.UUID
	IdPID      string // "dev" for the admin and provider users
	ExternalID string // the subject at the IdP
	Email      string
	FullName   string
}

// DemoTenant is one demo tenant with the two users a demo signs in as.
type DemoTenant struct {
	ID       uuid.UUID
	Name     string
	Admin    DemoUser // the tenant's administrator, at the "dev" IdP
	Provider DemoUser // a provider user at the "dev" IdP, the linked contact of at least one building
}

// DemoData tells the caller of Demo the ids it needs to print demo
// credentials.
type DemoData struct {
	Tenants []DemoTenant
}

// Demo fills db with the demo data set, in one transaction: two tenants
// ("Northwind Estates", "Harbour Homes"), their providers, buildings, users
// at several IdPs, contacts (some without an account), building contacts
// with exactly one primary each, and a year of invoices, including those of
// an erased user.
//
// Every id is fixed (derived with uuid.NewSHA1 from names), so Demo gives
// the same ids on every fresh database. Timestamps are relative to now.
//
// Demo is idempotent: when the demo tenants already exist it writes nothing
// and returns the same DemoData. It returns an error, and writes nothing,
// when only some of them exist. Concurrent calls are serialised by an
// advisory lock.
func Demo(ctx context.Context, db *sqlx.DB) (*DemoData, error) {
	now := time.Now().UTC().Truncate(time.Second)
	rows := buildDemo(now)
	err := postgres.Tx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, demoLockKey); err != nil {
			return postgres.Translate(err, "lock demo seed")
		}
		ids := make([]uuid.UUID, len(rows.data.Tenants))
		for i, t := range rows.data.Tenants {
			ids[i] = t.ID
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM directory.tenants WHERE id = ANY($1::uuid[])`, pq.Array(ids)); err != nil {
			return postgres.Translate(err, "count demo tenants")
		}
		switch n {
		case len(ids):
			return nil // already seeded
		case 0:
			return rows.insert(ctx, tx)
		default:
			return apperr.E(apperr.Conflict, "the database holds only part of the demo data (%d of %d tenants)", n, len(ids))
		}
	})
	if err != nil {
		return nil, err
	}
	return rows.data, nil
}

// demoLockKey is the advisory lock that serialises Demo calls.
const demoLockKey int64 = 0x5eed_de30

// The demo data set, written as specs that buildDemo turns into rows.

type demoUserSpec struct {
	key      string
	idp      string
	external string // derived from key and idp when empty
	email    string // empty only for the erased user
	name     string
	erased   bool
}

type demoContactSpec struct {
	key   string
	user  string // the key of the linked user; empty for a contact without an account
	name  string // taken from the user when empty
	email string // taken from the user when empty; NULL when both are empty
	phone string // E.164; NULL when empty
}

type demoLinkSpec struct {
	contact string
	role    string
	primary bool
}

type demoBuildingSpec struct {
	key      string
	provider string
	name     string
	address  string
	contacts []demoLinkSpec
}

type demoProviderSpec struct {
	key  string
	name string
}

type demoTenantSpec struct {
	key           string
	name          string
	prefix        string // of invoice numbers: PREFIX-YYYY-NNNN
	currency      string
	otherCurrency string // every otherEvery-th invoice
	otherEvery    int
	admin         string // user keys
	provider      string
	providers     []demoProviderSpec
	buildings     []demoBuildingSpec
	users         []demoUserSpec
	contacts      []demoContactSpec
	invoices      int
	creators      []string // user keys, in turn
}

func primary(contact, role string) demoLinkSpec {
	return demoLinkSpec{contact: contact, role: role, primary: true}
}

func link(contact, role string) demoLinkSpec { return demoLinkSpec{contact: contact, role: role} }

var demoTenants = []demoTenantSpec{
	{
		key: "northwind", name: "Northwind Estates", prefix: "NW",
		currency: "GBP", otherCurrency: "EUR", otherEvery: 4,
		admin: "nw-olivia", provider: "nw-samir",
		providers: []demoProviderSpec{
			{"nw-nps", "Northwind Property Services"},
			{"nw-kestrel", "Kestrel Facilities Ltd"},
			{"nw-greyfriars", "Greyfriars Lettings"},
		},
		buildings: []demoBuildingSpec{
			{"nw-alder", "nw-nps", "Alder Court", "14 Wharfside Lane, Leeds LS1 4DX",
				[]demoLinkSpec{primary("nw-priya", "manager"), link("nw-derek", "caretaker"), link("nw-joan", "accounts")}},
			{"nw-brunswick", "nw-nps", "Brunswick House", "2 Brunswick Row, Manchester M1 3EZ",
				[]demoLinkSpec{primary("nw-grace", "manager"), link("nw-derek", "caretaker")}},
			{"nw-canal", "nw-nps", "Canal View Apartments", "88 Lockkeeper Way, Birmingham B1 2QT",
				[]demoLinkSpec{primary("nw-tom", "manager")}},
			{"nw-maltings", "nw-kestrel", "The Maltings", "5 Maltings Yard, York YO1 7HQ",
				[]demoLinkSpec{primary("nw-samir", "manager"), link("nw-ewan", "caretaker"), link("nw-joan", "accounts")}},
			{"nw-rowan", "nw-kestrel", "Rowan Heights", "31 Rowan Drive, Sheffield S10 2PN",
				[]demoLinkSpec{primary("nw-samir", "manager"), link("nw-ewan", "caretaker")}},
			{"nw-greyfriars-mews", "nw-greyfriars", "Greyfriars Mews", "9 Greyfriars Walk, Bristol BS1 3LH",
				[]demoLinkSpec{primary("nw-lena", "manager"), link("nw-beatrice", "accounts")}},
			{"nw-quayside", "nw-greyfriars", "Quayside Lofts", "47 Harbour Street, Bristol BS1 5TT",
				[]demoLinkSpec{primary("nw-derek", "caretaker"), link("nw-lena", "manager"), link("nw-beatrice", "accounts")}},
		},
		users: []demoUserSpec{
			{key: "nw-olivia", idp: "dev", external: "northwind-admin", email: "olivia.hartwell@northwind.example", name: "Olivia Hartwell"},
			{key: "nw-samir", idp: "dev", external: "northwind-provider", email: "samir.caldwell@kestrel-facilities.example", name: "Samir Caldwell"},
			{key: "nw-grace", idp: "auth0-prod", email: "grace.pemberton@acme.com", name: "Grace Pemberton"},
			{key: "nw-tom", idp: "auth0-prod", email: "tom.ashby@acme.com", name: "Tom Ashby"},
			// A mixed-case address as an IdP may send it; email_domain is still acme.com.
			{key: "nw-marcus", idp: "keycloak-default", email: "Marcus.Doyle@Acme.COM", name: "Marcus Doyle"},
			{key: "nw-priya", idp: "auth0-prod", email: "priya.raman@northwind.example", name: "Priya Raman"},
			{key: "nw-lena", idp: "keycloak-default", email: "lena.fischer@greyfriars-lettings.example", name: "Lena Fischer"},
			{key: "nw-hannah", idp: "entra-corp", email: "hannah.moss@northwind.example", name: "Hannah Moss"},
			{key: "nw-ewan", idp: "entra-corp", email: "ewan.blake@kestrel-facilities.example", name: "Ewan Blake"},
			{key: "nw-isla", idp: "keycloak-default", email: "isla.fenwick@example.org", name: "Isla Fenwick"},
			{key: "nw-erased", idp: "entra-corp", erased: true},
		},
		contacts: []demoContactSpec{
			{key: "nw-samir", user: "nw-samir", phone: "+447700900101"},
			{key: "nw-grace", user: "nw-grace", phone: "+447700900102"},
			{key: "nw-tom", user: "nw-tom", phone: "+447700900103"},
			{key: "nw-lena", user: "nw-lena", phone: "+447700900104"},
			{key: "nw-ewan", user: "nw-ewan", phone: "+447700900105"},
			{key: "nw-priya", user: "nw-priya"},
			{key: "nw-derek", name: "Derek Holloway", phone: "+447700900106"},
			{key: "nw-beatrice", name: "Beatrice Lowe", email: "accounts@greyfriars-lettings.example", phone: "+441632960107"},
			{key: "nw-joan", name: "Joan Pryce", email: "joan.pryce@example.org", phone: "+447700900108"},
		},
		invoices: 32,
		creators: []string{"nw-grace", "nw-tom", "nw-marcus", "nw-priya", "nw-hannah", "nw-olivia", "nw-erased", "nw-lena"},
	},
	{
		key: "harbour", name: "Harbour Homes", prefix: "HH",
		currency: "EUR", otherCurrency: "GBP", otherEvery: 5,
		admin: "hh-jonas", provider: "hh-clara",
		providers: []demoProviderSpec{
			{"hh-hv", "Harbour Homes Hausverwaltung"},
			{"hh-elbwerk", "Elbwerk Facility GmbH"},
		},
		buildings: []demoBuildingSpec{
			{"hh-speicherhof", "hh-hv", "Speicherhof", "Speicherstraße 12, 20457 Hamburg",
				[]demoLinkSpec{primary("hh-noah", "manager"), link("hh-bernd", "caretaker"), link("hh-sabine", "accounts")}},
			{"hh-fleet", "hh-hv", "Haus am Fleet", "Fleetweg 4, 20459 Hamburg",
				[]demoLinkSpec{primary("hh-noah", "manager"), link("hh-bernd", "caretaker")}},
			{"hh-lotsenhaus", "hh-hv", "Lotsenhaus", "Lotsenkamp 21, 27568 Bremerhaven",
				[]demoLinkSpec{primary("hh-mia", "manager")}},
			{"hh-kranhaus", "hh-elbwerk", "Kranhaus Nord", "Kranweg 7, 20539 Hamburg",
				[]demoLinkSpec{primary("hh-clara", "manager"), link("hh-ida", "caretaker")}},
			{"hh-werftblick", "hh-elbwerk", "Werftblick", "Werftallee 33, 24103 Kiel",
				[]demoLinkSpec{primary("hh-clara", "manager"), link("hh-felix", "accounts")}},
			{"hh-moewenhof", "hh-elbwerk", "Möwenhof", "Möwengasse 2, 18055 Rostock",
				[]demoLinkSpec{primary("hh-felix", "manager"), link("hh-ida", "caretaker"), link("hh-sabine", "accounts")}},
		},
		users: []demoUserSpec{
			{key: "hh-jonas", idp: "dev", external: "harbour-admin", email: "jonas.weber@harbourhomes.example", name: "Jonas Weber"},
			{key: "hh-clara", idp: "dev", external: "harbour-provider", email: "clara.vogel@elbwerk.example", name: "Clara Vogel"},
			{key: "hh-mia", idp: "auth0-prod", email: "mia.schulte@acme.com", name: "Mia Schulte"},
			{key: "hh-felix", idp: "keycloak-default", email: "felix.brandt@acme.com", name: "Felix Brandt"},
			{key: "hh-noah", idp: "entra-corp", email: "noah.kramer@harbourhomes.example", name: "Noah Kramer"},
			{key: "hh-lina", idp: "entra-corp", email: "lina.hoffmann@harbourhomes.example", name: "Lina Hoffmann"},
			{key: "hh-paul", idp: "auth0-prod", email: "paul.richter@example.net", name: "Paul Richter"},
			{key: "hh-ida", idp: "keycloak-default", email: "ida.lorenz@elbwerk.example", name: "Ida Lorenz"},
		},
		contacts: []demoContactSpec{
			{key: "hh-clara", user: "hh-clara", phone: "+494055501001"},
			{key: "hh-mia", user: "hh-mia", phone: "+494055501002"},
			{key: "hh-felix", user: "hh-felix", phone: "+4915155501003"},
			{key: "hh-ida", user: "hh-ida", phone: "+494055501004"},
			{key: "hh-noah", user: "hh-noah"},
			{key: "hh-bernd", name: "Bernd Kowalczyk", phone: "+4915155501005"},
			{key: "hh-sabine", name: "Sabine Krüger", email: "buchhaltung@harbourhomes.example", phone: "+494055501006"},
		},
		invoices: 20,
		creators: []string{"hh-mia", "hh-felix", "hh-noah", "hh-lina", "hh-jonas", "hh-paul"},
	},
}

// Rows of the demo data set.

type demoTenantRow struct {
	ID        uuid.UUID `db:"id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
}

type demoProviderRow struct {
	ID        uuid.UUID `db:"id"`
	TenantID  uuid.UUID `db:"tenant_id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
}

type demoBuildingRow struct {
	ID         uuid.UUID `db:"id"`
	TenantID   uuid.UUID `db:"tenant_id"`
	ProviderID uuid.UUID `db:"provider_id"`
	Name       string    `db:"name"`
	Address    string    `db:"address"`
	CreatedAt  time.Time `db:"created_at"`
}

type demoUserRow struct {
	ID         uuid.UUID  `db:"id"`
	TenantID   uuid.UUID  `db:"tenant_id"`
	IdPID      string     `db:"idp_id"`
	ExternalID string     `db:"external_id"`
	Email      *string    `db:"email"`
	FullName   *string    `db:"full_name"`
	SyncedAt   time.Time  `db:"synced_at"`
	CreatedAt  time.Time  `db:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at"`
	ErasedAt   *time.Time `db:"erased_at"`
}

type demoContactRow struct {
	ID        uuid.UUID  `db:"id"`
	TenantID  uuid.UUID  `db:"tenant_id"`
	UserID    *uuid.UUID `db:"user_id"`
	FullName  *string    `db:"full_name"`
	Email     *string    `db:"email"`
	Phone     *string    `db:"phone"`
	CreatedAt time.Time  `db:"created_at"`
	UpdatedAt time.Time  `db:"updated_at"`
}

type demoLinkRow struct {
	BuildingID uuid.UUID `db:"building_id"`
	ContactID  uuid.UUID `db:"contact_id"`
	TenantID   uuid.UUID `db:"tenant_id"`
	Role       string    `db:"role"`
	IsPrimary  bool      `db:"is_primary"`
	CreatedAt  time.Time `db:"created_at"`
}

type demoInvoiceRow struct {
	ID              uuid.UUID `db:"id"`
	TenantID        uuid.UUID `db:"tenant_id"`
	Number          string    `db:"number"`
	AmountMinor     int64     `db:"amount_minor"`
	Currency        string    `db:"currency"`
	IssuedAt        time.Time `db:"issued_at"`
	CreatedByUserID uuid.UUID `db:"created_by_user_id"`
	CreatedAt       time.Time `db:"created_at"`
}

type demoRows struct {
	data      *DemoData
	tenants   []demoTenantRow
	providers []demoProviderRow
	buildings []demoBuildingRow
	users     []demoUserRow
	contacts  []demoContactRow
	links     []demoLinkRow
	invoices  []demoInvoiceRow
}

// buildDemo turns the specs into rows, with timestamps relative to now. It
// panics on a broken spec: the specs are constants of this package.
func buildDemo(now time.Time) *demoRows {
	r := &demoRows{data: &DemoData{}}
	day := 24 * time.Hour
	for ti, t := range demoTenants {
		tenantID := demoID("tenant", t.key)
		r.tenants = append(r.tenants, demoTenantRow{ID: tenantID, Name: t.name, CreatedAt: now.Add(-400 * day)})

		for _, p := range t.providers {
			r.providers = append(r.providers, demoProviderRow{
				ID: demoID("provider", p.key), TenantID: tenantID, Name: p.name, CreatedAt: now.Add(-390 * day),
			})
		}

		users := map[string]demoUserRow{}
		for ui, u := range t.users {
			created := now.Add(-time.Duration(396-3*ui) * day) // before every invoice
			row := demoUserRow{
				ID: demoID("user", u.key), TenantID: tenantID, IdPID: u.idp, ExternalID: demoExternalID(u),
				SyncedAt: now.Add(-time.Duration(ui+1) * time.Hour), CreatedAt: created, UpdatedAt: created,
			}
			if u.erased {
				erased := now.Add(-30 * day)
				row.ErasedAt, row.SyncedAt, row.UpdatedAt = &erased, erased, erased
			} else {
				row.Email, row.FullName = ptr(u.email), ptr(u.name)
			}
			users[u.key] = row
			r.users = append(r.users, row)
		}
		demoUser := func(key string) DemoUser {
			u, ok := users[key]
			if !ok || u.Email == nil {
				panic("seed: demo user " + key + " missing or erased")
			}
			return DemoUser{ID: u.ID, IdPID: u.IdPID, ExternalID: u.ExternalID, Email: *u.Email, FullName: *u.FullName}
		}
		r.data.Tenants = append(r.data.Tenants, DemoTenant{
			ID: tenantID, Name: t.name, Admin: demoUser(t.admin), Provider: demoUser(t.provider),
		})

		contacts := map[string]demoContactRow{}
		for ci, c := range t.contacts {
			row := demoContactRow{ID: demoID("contact", c.key), TenantID: tenantID,
				CreatedAt: now.Add(-time.Duration(360-11*ci) * day), Phone: ptr(c.phone)}
			row.UpdatedAt = row.CreatedAt
			name, email := c.name, c.email
			if c.user != "" {
				u, ok := users[c.user]
				if !ok {
					panic("seed: demo contact " + c.key + " links an unknown user")
				}
				row.UserID = &u.ID
				if name == "" && u.FullName != nil {
					name = *u.FullName
				}
				if email == "" && u.Email != nil {
					email = lowerDomain(*u.Email)
				}
			}
			row.FullName, row.Email = ptr(name), ptr(email)
			contacts[c.key] = row
			r.contacts = append(r.contacts, row)
		}

		for bi, b := range t.buildings {
			id := demoID("building", b.key)
			created := now.Add(-time.Duration(370-9*bi) * day)
			r.buildings = append(r.buildings, demoBuildingRow{
				ID: id, TenantID: tenantID, ProviderID: demoID("provider", b.provider),
				Name: b.name, Address: b.address, CreatedAt: created,
			})
			primaries := 0
			for _, l := range b.contacts {
				c, ok := contacts[l.contact]
				if !ok {
					panic("seed: demo building " + b.key + " links an unknown contact")
				}
				if l.primary {
					primaries++
				}
				linked := created
				if c.CreatedAt.After(linked) {
					linked = c.CreatedAt
				}
				r.links = append(r.links, demoLinkRow{BuildingID: id, ContactID: c.ID, TenantID: tenantID,
					Role: l.role, IsPrimary: l.primary, CreatedAt: linked.Add(day)})
			}
			if primaries != 1 {
				panic("seed: demo building " + b.key + " needs exactly one primary contact")
			}
		}

		r.invoices = append(r.invoices, demoInvoices(t, ti, tenantID, users, now)...)
	}
	return r
}

// demoInvoices spreads t.invoices over the year before now, numbered
// PREFIX-YYYY-NNNN in issue order within each year.
func demoInvoices(t demoTenantSpec, ti int, tenantID uuid.UUID, users map[string]demoUserRow, now time.Time) []demoInvoiceRow {
	rng := rand.New(rand.NewPCG(uint64(ti)+1, 0x5eed))
	year := 365 * 24 * time.Hour
	rows := make([]demoInvoiceRow, t.invoices)
	for i := range rows {
		// Evenly spread, oldest first, with up to two days of jitter.
		age := year - time.Duration(i)*year/time.Duration(t.invoices) - time.Duration(rng.IntN(48*60))*time.Minute
		issued := now.Add(-age)
		creator, ok := users[t.creators[i%len(t.creators)]]
		if ok && creator.ErasedAt != nil && !issued.Before(*creator.ErasedAt) {
			// An erased user created invoices before the erasure only.
			creator, ok = users[t.creators[(i+1)%len(t.creators)]]
		}
		if !ok {
			panic("seed: demo invoice creator missing")
		}
		currency := t.currency
		if (i+1)%t.otherEvery == 0 {
			currency = t.otherCurrency
		}
		rows[i] = demoInvoiceRow{
			ID: demoID("invoice", fmt.Sprintf("%s/%d", t.key, i)), TenantID: tenantID,
			AmountMinor: int64(4500 + rng.IntN(950000)), Currency: currency,
			IssuedAt: issued, CreatedByUserID: creator.ID, CreatedAt: issued.Add(time.Duration(5+rng.IntN(55)) * time.Minute),
		}
	}
	sort.SliceStable(rows, func(a, b int) bool { return rows[a].IssuedAt.Before(rows[b].IssuedAt) })
	seq := map[int]int{}
	for i := range rows {
		y := rows[i].IssuedAt.Year()
		seq[y]++
		rows[i].Number = fmt.Sprintf("%s-%d-%04d", t.prefix, y, seq[y])
	}
	return rows
}

// demoExternalID is the subject at the user's IdP, shaped like that IdP's.
func demoExternalID(u demoUserSpec) string {
	if u.external != "" {
		return u.external
	}
	switch u.idp {
	case "auth0-prod": // auth0|<24 hex digits>
		sum := sha1.Sum([]byte("auth0:" + u.key))
		return "auth0|65f" + hex.EncodeToString(sum[:])[:21]
	case "keycloak-default": // a UUID
		return demoID("keycloak", u.key).String()
	case "entra-corp": // the object id (oid), a GUID
		return demoID("entra", u.key).String()
	default:
		return u.key
	}
}

// lowerDomain lower-cases the domain of an email address.
func lowerDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return email
	}
	return email[:at+1] + strings.ToLower(email[at+1:])
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r *demoRows) insert(ctx context.Context, tx *sqlx.Tx) error {
	steps := []struct {
		what string
		sql  string
		rows any
		n    int
	}{
		{"tenants", `INSERT INTO directory.tenants (id, name, created_at) VALUES (:id, :name, :created_at)`,
			r.tenants, len(r.tenants)},
		{"users", `INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at, created_at, updated_at, erased_at)
			VALUES (:id, :tenant_id, :idp_id, :external_id, :email, :full_name, :synced_at, :created_at, :updated_at, :erased_at)`,
			r.users, len(r.users)},
		{"providers", `INSERT INTO property.providers (id, tenant_id, name, created_at) VALUES (:id, :tenant_id, :name, :created_at)`,
			r.providers, len(r.providers)},
		{"buildings", `INSERT INTO property.buildings (id, tenant_id, provider_id, name, address, created_at)
			VALUES (:id, :tenant_id, :provider_id, :name, :address, :created_at)`,
			r.buildings, len(r.buildings)},
		{"contacts", `INSERT INTO comms.contacts (id, tenant_id, user_id, full_name, email, phone, created_at, updated_at)
			VALUES (:id, :tenant_id, :user_id, :full_name, :email, :phone, :created_at, :updated_at)`,
			r.contacts, len(r.contacts)},
		{"building contacts", `INSERT INTO comms.building_contacts (building_id, contact_id, tenant_id, role, is_primary, created_at)
			VALUES (:building_id, :contact_id, :tenant_id, :role, :is_primary, :created_at)`,
			r.links, len(r.links)},
		{"invoices", `INSERT INTO bookkeeping.invoices (id, tenant_id, number, amount_minor, currency, issued_at, created_by_user_id, created_at)
			VALUES (:id, :tenant_id, :number, :amount_minor, :currency, :issued_at, :created_by_user_id, :created_at)`,
			r.invoices, len(r.invoices)},
	}
	for _, s := range steps {
		if s.n == 0 {
			continue
		}
		if _, err := tx.NamedExecContext(ctx, s.sql, s.rows); err != nil {
			return postgres.Translate(err, "insert demo "+s.what)
		}
	}
	return nil
}
