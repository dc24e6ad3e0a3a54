// Package seed creates a large, valid data set quickly: the W3/W4 benchmark
// organization (100k deals, 30k contacts, 200k tasks, ≥ 1M events, one deal
// with 1,000 events) plus a second, smaller organization, and the demo data
// of `crm seed --orgs N --deals N` (Options.Orgs organizations of one size,
// each with an owner, an admin, a manager and a member; deals with stage
// histories that skip and roll back stages and end won or lost; tasks and
// comments).
//
// Going through HTTP would take hours, so only the identity part (users,
// organizations, memberships: they need the inline tables written inside
// the append transaction) goes through the real commands. The sales events
// are decided by the pure aggregates, exactly as the commands decide them
// (deal.created with contact.deal_linked on the contact's stream, task.created
// with deal.task_added on the deal's stream, …), so every stream is valid by
// construction, and then bulk-loaded into the events table with COPY in a
// few large transactions. The read models are left to the projectors.
package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/passwords"
	identityproj "example.com/crm/projections/identity"
	identityread "example.com/crm/readapi/identity"
)

// Options size the data set. The zero value of a count means none.
type Options struct {
	// Contacts, Deals, Tasks and Comments of the main organization (and
	// of each of the Orgs).
	Contacts, Deals, Tasks, Comments int
	// Orgs is how many organizations of the main one's size to seed
	// (0 and 1: the main one alone). Each has a user per role.
	Orgs int
	// MinEvents: comments are added on random deals until the main
	// organization has at least this many events (0: none added).
	MinEvents int
	// BigDealEvents, when > 1, adds one deal with exactly that many
	// events (the audit-replay workload W5).
	BigDealEvents int
	// SmallOrgDivisor, when > 0, adds a second organization with the
	// main organization's counts divided by it.
	SmallOrgDivisor int
	// Password of every seeded user (8–128 characters).
	Password string
	// PasswordCost is the bcrypt cost (0: passwords.Cost).
	PasswordCost int
	// Now is the end of the seeded history (zero: time.Now()). Events
	// spread over the 45 days before it.
	Now time.Time
	// RandSeed makes the data reproducible.
	RandSeed uint64
	// Progress, when set, is told how far loading is.
	Progress func(Progress)
}

// Progress reports how many of the events planned have been loaded.
type Progress struct {
	Phase       string
	Done, Total int
	Elapsed     time.Duration
}

// Scaled returns the benchmark's data set at scale (1 = BENCHMARKS.md's W3:
// 100k deals, 30k contacts, 200k tasks, ≥ 1M events, a 1,000-event deal, a
// second organization one tenth the size).
func Scaled(scale float64) Options {
	n := func(v float64) int { return max(1, int(v*scale)) }
	return Options{
		Contacts: n(30_000), Deals: n(100_000), Tasks: n(200_000), MinEvents: n(1_000_000),
		BigDealEvents: 1000, SmallOrgDivisor: 10, Password: "bench-password-1",
	}
}

// User is a seeded user.
type User struct {
	ID    uuid.UUID
	Email string
	Role  crm.Role
}

// Org is one seeded organization.
type Org struct {
	ID      uuid.UUID
	Owner   User
	Members []User
	// Counts of what was created, and the events appended.
	Contacts, Deals, Tasks, Events int
	// Samples of ids, for queries that need existing entities.
	SampleDeals, SampleContacts []uuid.UUID
	// BigDeal is the deal with BigDealEvents events (uuid.Nil if none).
	BigDeal uuid.UUID
}

// Result is what Run created.
type Result struct {
	Main  Org
	Small *Org
	// Orgs is every organization seeded: Main first, then the others
	// of Options.Orgs, then Small.
	Orgs     []*Org
	Password string
	// Events is the number of sales events loaded with COPY (both orgs).
	Events int
}

// Run seeds pool's database (migrations applied) according to o.
func Run(ctx context.Context, pool *pgxpool.Pool, o Options) (Result, error) {
	if o.Password == "" {
		return Result{}, errors.New("seed: Options.Password is required")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	tag := uuid.Must(uuid.NewV7()).String()[24:] // tells this run's e-mails from earlier ones
	cost := o.PasswordCost
	if cost == 0 {
		cost = passwords.Cost
	}
	hasher, err := passwords.NewWithCost(cost)
	if err != nil {
		return Result{}, err
	}
	dir := identityread.New(pool)
	app := commands.New(commands.Deps{
		Store: pgstore.New(pool, events.Domain(), pgstore.Hooks{}, identityproj.New()),
		// Directory and Users: the identity read side, as the server wires it.
		Directory: dir, Users: dir, Passwords: &onceHasher{h: hasher},
	})
	res := Result{Password: o.Password}
	rng := rand.New(rand.NewPCG(o.RandSeed, 0x5eed))

	users, usersTotal, usersStarted := 0, 4*max(1, o.Orgs), time.Now()
	if o.SmallOrgDivisor > 0 {
		usersTotal++
	}
	userDone := func() {
		users++
		if o.Progress != nil {
			o.Progress(Progress{Phase: "users", Done: users, Total: usersTotal, Elapsed: time.Since(usersStarted)})
		}
	}
	main, err := identity(ctx, app, "main", tag, o.Password, true, userDone)
	if err != nil {
		return res, err
	}
	plans := []plan{{org: &main, contacts: o.Contacts, deals: o.Deals, tasks: o.Tasks, comments: o.Comments,
		minEvents: o.MinEvents, bigDeal: o.BigDealEvents}}
	for i := 2; i <= o.Orgs; i++ {
		org, err := identity(ctx, app, fmt.Sprintf("org%d", i), tag, o.Password, true, userDone)
		if err != nil {
			return res, err
		}
		plans = append(plans, plan{org: &org, contacts: o.Contacts, deals: o.Deals, tasks: o.Tasks, comments: o.Comments,
			minEvents: o.MinEvents})
	}
	if o.SmallOrgDivisor > 0 {
		small, err := identity(ctx, app, "small", tag, o.Password, false, userDone)
		if err != nil {
			return res, err
		}
		res.Small = &small
		d := o.SmallOrgDivisor
		plans = append(plans, plan{org: res.Small, contacts: max(1, o.Contacts/d), deals: max(1, o.Deals/d),
			tasks: o.Tasks / d, comments: o.Comments / d, minEvents: o.MinEvents / d})
	}
	total := 0
	for _, p := range plans {
		total += p.estimate()
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Release()
	l := &loader{ctx: ctx, conn: conn.Conn(), reg: events.Domain(), rng: rng, total: total, progress: o.Progress, started: time.Now()}
	start := o.Now.Add(-45 * 24 * time.Hour)
	for _, p := range plans {
		if err := l.generate(p, start, o.Now); err != nil {
			return res, fmt.Errorf("seed: %w", err)
		}
	}
	if err := l.finish(); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	if o.Progress != nil {
		o.Progress(Progress{Phase: "events", Done: l.loaded, Total: l.loaded, Elapsed: time.Since(l.started)})
	}
	res.Main = main
	res.Orgs = append(res.Orgs, &res.Main)
	for _, p := range plans[1:] {
		if p.org != res.Small {
			res.Orgs = append(res.Orgs, p.org)
		}
	}
	if res.Small != nil {
		res.Orgs = append(res.Orgs, res.Small)
	}
	res.Events = l.loaded
	if _, err := pool.Exec(ctx, "ANALYZE events"); err != nil {
		return res, err
	}
	return res, nil
}

// identity registers an owner (and their organization) through the real
// Register command and, when members is set, adds an admin, a manager and
// a member through AddMember (each registered first, with an organization
// of their own, as a real user would be): these write the inline identity
// tables.
func identity(ctx context.Context, app *commands.Application, name, tag, password string, members bool, registered func()) (Org, error) {
	email := func(role string) string { return fmt.Sprintf("%s-%s-%s@seed.example.com", name, role, tag) }
	reg, err := app.Register(ctx, commands.RegisterInput{
		Email: email("owner"), Password: password, Name: "Seed " + name + " owner",
		OrganizationName: "Seed " + name + " " + tag,
	})
	if err != nil {
		return Org{}, fmt.Errorf("seed: register %s owner: %w", name, err)
	}
	registered()
	org := Org{ID: reg.Organization.ID, Owner: User{ID: reg.User.ID, Email: email("owner"), Role: crm.RoleOwner}}
	if !members {
		return org, nil
	}
	octx := crm.WithTenant(crm.WithActor(ctx, crm.Actor{UserID: org.Owner.ID}), crm.Tenant{OrgID: org.ID, Role: crm.RoleOwner})
	for _, role := range []crm.Role{crm.RoleAdmin, crm.RoleManager, crm.RoleMember} {
		r, err := app.Register(ctx, commands.RegisterInput{
			Email: email(string(role)), Password: password, Name: "Seed " + name + " " + string(role),
			OrganizationName: "Seed " + name + " " + string(role) + " " + tag,
		})
		if err != nil {
			return Org{}, fmt.Errorf("seed: register %s %s: %w", name, role, err)
		}
		e := email(string(role))
		if _, err := app.AddMember(octx, commands.AddMemberInput{Email: &e, Role: string(role)}); err != nil {
			return Org{}, fmt.Errorf("seed: add %s %s: %w", name, role, err)
		}
		org.Members = append(org.Members, User{ID: r.User.ID, Email: e, Role: role})
		registered()
	}
	return org, nil
}

// onceHasher hashes the one password every seeded user shares once and
// hands every user that hash: a dozen bcrypt runs would be most of a small
// seed's time. (One salt for all of them: they share the password anyway,
// and the command prints it.)
type onceHasher struct {
	h              *passwords.Hasher
	password, hash string
}

func (o *onceHasher) Hash(password string) (string, error) {
	if o.hash != "" && password == o.password {
		return o.hash, nil
	}
	hash, err := o.h.Hash(password)
	if err == nil {
		o.password, o.hash = password, hash
	}
	return hash, err
}

// loader turns decided events into rows and COPYs them into the events
// table, committing every commitEvery rows.
type loader struct {
	ctx      context.Context
	conn     *pgx.Conn
	reg      *events.Registry
	rng      *rand.Rand
	tx       pgx.Tx
	rows     [][]any
	inTx     int
	loaded   int
	total    int
	progress func(Progress)
	started  time.Time
}

const (
	copyChunk   = 20_000
	commitEvery = 250_000
)

var columns = []string{"event_id", "tenant_id", "stream_type", "stream_id", "version",
	"event_type", "schema_version", "payload", "metadata", "occurred_at"}

// add queues one stored event.
func (l *loader) add(meta []byte, s events.Stream, version int, p events.Pending) error {
	name, sv, body, err := l.reg.Encode(p.Data)
	if err != nil {
		return err
	}
	l.rows = append(l.rows, []any{uuid.Must(uuid.NewV7()), s.TenantID, s.Type, s.ID, int32(version),
		name, int32(sv), body, meta, p.OccurredAt.UTC()})
	if l.progress != nil && len(l.rows)%1000 == 0 {
		done := l.loaded + len(l.rows) // decided; COPYed at the next flush
		l.progress(Progress{Phase: "events", Done: done, Total: max(l.total, done), Elapsed: time.Since(l.started)})
	}
	if len(l.rows) >= copyChunk {
		return l.flush()
	}
	return nil
}

func (l *loader) flush() error {
	if len(l.rows) == 0 {
		return nil
	}
	if l.tx == nil {
		tx, err := l.conn.Begin(l.ctx)
		if err != nil {
			return err
		}
		l.tx = tx
	}
	n, err := l.tx.CopyFrom(l.ctx, pgx.Identifier{"events"}, columns, pgx.CopyFromRows(l.rows))
	if err != nil {
		return fmt.Errorf("copy into events: %w", err)
	}
	l.loaded += int(n)
	l.inTx += int(n)
	l.rows = l.rows[:0]
	if l.inTx >= commitEvery {
		if err := l.commit(); err != nil {
			return err
		}
	}
	if l.progress != nil {
		l.progress(Progress{Phase: "events", Done: l.loaded, Total: max(l.total, l.loaded), Elapsed: time.Since(l.started)})
	}
	return nil
}

func (l *loader) commit() error {
	if l.tx == nil {
		return nil
	}
	err := l.tx.Commit(l.ctx)
	l.tx, l.inTx = nil, 0
	if err != nil {
		return err
	}
	// Fresh statistics after every bulk commit: the projectors already
	// poll the growing table, and plans made on an empty table's
	// statistics are slow on a million rows.
	_, err = l.conn.Exec(l.ctx, "ANALYZE events")
	return err
}

func (l *loader) finish() error {
	if err := l.flush(); err != nil {
		return err
	}
	return l.commit()
}

// metadataFor is the metadata the commands write for an owner's request.
func metadataFor(org Org, requestID string) ([]byte, error) {
	actor := org.Owner.ID
	return json.Marshal(events.Metadata{TenantID: org.ID, ActorID: &actor, Role: string(crm.RoleOwner),
		RequestID: requestID, CorrelationID: requestID})
}
