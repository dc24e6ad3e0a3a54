// Package commands orchestrates the write side: each use case (one file
// per command) loads the aggregates it needs from the event store, lets
// them decide, and appends the result in one atomic batch under optimistic
// concurrency. Application is the table of contents.
//
// Commands never read read models (they would be stale): every rule is
// checked against aggregates rebuilt from their streams, and rules that
// span aggregates are enforced by appending to every stream involved.
package commands

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// Clock returns the time of a decision (UTC).
type Clock func() time.Time

// Deps are what commands need from the outside.
type Deps struct {
	Store events.Store
	// Directory checks that an owner_id names a member.
	Directory Directory
	// Now defaults to time.Now in UTC, truncated to microseconds (what
	// PostgreSQL stores), so that a response equals a later read.
	Now Clock
	// NewID defaults to UUID v7 (time-ordered).
	NewID func() uuid.UUID
	// MaxAttempts bounds the attempts after version conflicts (default
	// 16: a request can lose one round to each concurrent writer of the
	// same stream, so this is the number of simultaneous writers of one
	// entity it survives).
	MaxAttempts int
	// Users finds users by e-mail (the inline users table, which is never
	// stale: a set lookup, as "add a member by e-mail" needs).
	Users UserDirectory
	// Passwords hashes the passwords of new users.
	Passwords PasswordHasher
	// CacheSize bounds the aggregate states kept between commands
	// (default 10,000; negative: none).
	CacheSize int
	// Observe, when set, is told about every command (metrics).
	Observe Observer
}

// UserDirectory resolves an e-mail address (compared case-insensitively)
// to the user registered with it. It is the one question commands ask
// outside the event store: which stream holds an e-mail is a set-wide
// fact no single stream knows.
type UserDirectory interface {
	UserIDByEmail(ctx context.Context, email string) (uuid.UUID, bool, error)
}

// PasswordHasher hashes a password for storage (package passwords).
type PasswordHasher interface {
	Hash(password string) (string, error)
}

// Application is every command of the system.
type Application struct {
	store       events.Store
	dir         Directory
	now         Clock
	newID       func() uuid.UUID
	maxAttempts int
	users       UserDirectory
	passwords   PasswordHasher
	cache       *stateCache
	observer    Observer
	// beforeAppend, when set (tests only, export_test.go), runs between
	// a command's decision and its append.
	beforeAppend func(ctx context.Context)
}

// New returns the write side over deps.
func New(d Deps) *Application {
	a := &Application{store: d.Store, dir: d.Directory, now: d.Now, newID: d.NewID, maxAttempts: d.MaxAttempts,
		users: d.Users, passwords: d.Passwords, observer: d.Observe}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if a.newID == nil {
		a.newID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	if a.maxAttempts == 0 {
		a.maxAttempts = 16
	}
	switch {
	case d.CacheSize == 0:
		a.cache = newStateCache(defaultCacheSize)
	case d.CacheSize > 0:
		a.cache = newStateCache(d.CacheSize)
	}
	a.store = checkedStore{Store: d.Store, cache: a.cache}
	return a
}

// Result is what every command reports: the position of its last event
// (X-Event-Position), zero when it appended nothing.
type Result struct {
	Position int64
}

// unchanged is the Result of a command that appended nothing to stream
// id at version: the position of the stream's event at that version,
// which the state it answers with reflects (API.md: every command
// response carries X-Event-Position), zero for a stream with none.
func (a *Application) unchanged(ctx context.Context, org, id uuid.UUID, version int) (Result, error) {
	if version <= 0 {
		return Result{}, nil
	}
	evs, err := a.store.Load(ctx, org, id, events.LoadOptions{AfterVersion: version - 1, UpToVersion: version})
	if err != nil {
		return Result{}, err
	}
	for _, e := range evs {
		if e.Version == version {
			return Result{Position: e.Position}, nil
		}
	}
	return Result{}, nil
}

// metadata builds event metadata from the request context. It fails
// closed: no actor, no events.
func metadata(ctx context.Context, tenant uuid.UUID) (events.Metadata, error) {
	actor, err := crm.ActorFrom(ctx)
	if err != nil {
		return events.Metadata{}, err
	}
	m := events.Metadata{TenantID: tenant, ActorID: &actor.UserID, RequestID: crm.RequestIDFrom(ctx)}
	if t, err := crm.TenantFrom(ctx); err == nil {
		m.Role = string(t.Role)
	}
	m.CorrelationID = m.RequestID
	return m, nil
}

// caller returns the actor and their role in the request's organization.
func caller(ctx context.Context) (aggregates.Caller, crm.Tenant, error) {
	actor, err := crm.ActorFrom(ctx)
	if err != nil {
		return aggregates.Caller{}, crm.Tenant{}, err
	}
	tenant, err := crm.TenantFrom(ctx)
	if err != nil {
		return aggregates.Caller{}, crm.Tenant{}, err
	}
	return aggregates.Caller{UserID: actor.UserID, Role: tenant.Role}, tenant, nil
}

// IfMatch is the version a client said it read (If-Match), or nil.
type IfMatch = *int

// today is the current date in UTC, for due-date rules.
func (a *Application) today() string { return a.now().UTC().Format(time.DateOnly) }

// stream names the stream of one entity of an organization.
func stream(org uuid.UUID, typ string, id uuid.UUID) events.Stream {
	return events.Stream{TenantID: org, Type: typ, ID: id}
}

// errOwnerNotMember is 400 OWNER_NOT_MEMBER.
func errOwnerNotMember() error {
	return &crm.Error{Code: crm.CodeOwnerNotMember, Message: "owner_id is not a member of this organization",
		Fields: []crm.FieldError{{Field: "owner_id", Message: "must be a member of the organization"}}}
}

// assigned lists owner when the caller sets it to someone else: a user
// who must be a member when the events commit (the caller is checked
// anyway).
func assigned(c aggregates.Caller, owner *uuid.UUID) []uuid.UUID {
	if owner == nil || *owner == c.UserID {
		return nil
	}
	return []uuid.UUID{*owner}
}

// checkOwner answers 400 OWNER_NOT_MEMBER when an owner_id set by the
// caller names someone who is not a member of the organization. Appends
// check it themselves (write.owners); this is for a patch that appends
// nothing.
func (a *Application) checkOwner(ctx context.Context, org uuid.UUID, c aggregates.Caller, owner *uuid.UUID) error {
	for _, o := range assigned(c, owner) {
		ok, err := a.dir.IsMember(ctx, org, o)
		if err != nil {
			return err
		}
		if !ok {
			return errOwnerNotMember()
		}
	}
	return nil
}

// write is what an org-scoped command appends, and what must still hold
// when it commits.
type write struct {
	// result is what the command answers, for the idempotency record.
	result  any
	streams []events.Append
	// owners must be members when the events commit.
	owners []uuid.UUID
	// guards are streams the decision read and does not append to.
	guards []events.Guard
}

// append stores w with the request's metadata, the idempotency record for
// w.result, and the authorization the decision assumed (the caller's
// membership and role in org, w.owners being members), which the store
// re-checks in the append itself. It returns the position of the last
// event. Streams without events are left out.
func (a *Application) append(ctx context.Context, org uuid.UUID, w write) (Result, error) {
	c, _, err := caller(ctx)
	if err != nil {
		return Result{}, err
	}
	meta, err := metadata(ctx, org)
	if err != nil {
		return Result{}, err
	}
	rec, err := IdempotencyRecord(ctx, w.result)
	if err != nil {
		return Result{}, err
	}
	var nonEmpty []events.Append
	for _, ap := range w.streams {
		if len(ap.Events) > 0 {
			nonEmpty = append(nonEmpty, ap)
		}
	}
	if a.beforeAppend != nil {
		a.beforeAppend(ctx)
	}
	res, err := a.store.Append(ctx, events.Batch{
		Metadata: meta, Streams: nonEmpty, Idempotency: rec, Guards: w.guards,
		Authorization: &events.Authorization{OrgID: org, UserID: c.UserID, Role: string(c.Role), Members: w.owners},
	})
	switch {
	case errors.Is(err, events.ErrNotAMember):
		return Result{}, crm.Errorf(crm.CodeNotAMember, "not a member of the organization")
	case errors.Is(err, events.ErrNotMembers):
		return Result{}, errOwnerNotMember()
	case err != nil:
		return Result{}, err
	}
	// The store checked the caller's membership and role in the append.
	crm.ConfirmRole(ctx, c.Role)
	return Result{Position: res.LastPosition}, nil
}

// checkIfMatch answers 412 when the client read another version. It runs
// after every rule, as API.md orders the checks.
func checkIfMatch(ifMatch IfMatch, version int) error {
	if ifMatch != nil && *ifMatch != version {
		return crm.Errorf(crm.CodeVersionMismatch, "the entity is at version %d, not %d", version, *ifMatch)
	}
	return nil
}

// checkOwnerThenIfMatch is checkIfMatch for a patch that may set an
// owner: OWNER_NOT_MEMBER is a business rule, which API.md orders before
// 412. The append checks the owner itself, in its transaction
// (write.owners); the owner is looked up here only when no append will
// run: the patch changes nothing, or the If-Match fails.
func (a *Application) checkOwnerThenIfMatch(ctx context.Context, org uuid.UUID, c aggregates.Caller, owner *uuid.UUID, appends bool, ifMatch IfMatch, version int) error {
	mismatch := checkIfMatch(ifMatch, version)
	if owner != nil && (!appends || mismatch != nil) {
		if err := a.checkOwner(ctx, org, c, owner); err != nil {
			return err
		}
	}
	return mismatch
}

// retry runs attempt (load, decide, append) until it succeeds, fails for a
// reason other than a version conflict or a changed role, or the attempts
// run out.
//
// A conflict is retried with If-Match too: it may concern another stream
// of the command (the contact of a deal, the deal of a task) while the
// entity the client named is still at its version; the next attempt's
// checkIfMatch decides (412 when the entity itself moved).
//
// A *events.RoleChangedError means the caller's role changed between the
// tenancy check and the append: the command decides again with the role
// the store found (a demoted admin may no longer do what they asked).
//
// The first attempt may decide on cached states without reading them
// (attempt.go); when it does not commit, it runs again reading every
// stream, and that run is the answer.
func (a *Application) retry(ctx context.Context, decide func(ctx context.Context) error) error {
	optimistic := a.cache != nil
	for i := 1; ; i++ {
		at := &attempt{optimistic: optimistic}
		optimistic = false
		err := decide(withAttempt(ctx, at))
		var changed bool
		var rerr error
		if ctx, changed, rerr = decideAgainAs(ctx, err); rerr != nil {
			return rerr
		}
		if at.unsettled() {
			at.settle(a.cache, err)
			continue
		}
		if !changed && !errors.Is(err, events.ErrConflict) {
			return err
		}
		if i >= a.maxAttempts {
			return &crm.Error{Code: crm.CodeConcurrentModify, Message: fmt.Sprintf("gave up after %d concurrent modifications; retry", i)}
		}
		if changed {
			continue
		}
		// A short random pause spreads the writers that just collided,
		// so they do not collide again in lockstep.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(i, 4))))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// decideAgainAs returns ctx with the caller's role the store found when
// err is a *events.RoleChangedError (changed: the command must decide
// again with it), else ctx unchanged.
func decideAgainAs(ctx context.Context, err error) (context.Context, bool, error) {
	var rc *events.RoleChangedError
	if !errors.As(err, &rc) {
		return ctx, false, nil
	}
	t, terr := crm.TenantFrom(ctx)
	if terr != nil {
		return ctx, false, terr
	}
	t.Role = crm.Role(rc.Role)
	return crm.WithTenant(ctx, t), true, nil
}

// Idempotency is an Idempotency-Key request's intent, carried from the
// HTTP edge to the command that appends: Record renders the response the
// command's result will get, so it can be stored with the events.
type Idempotency struct {
	UserID      uuid.UUID
	Key         string
	RequestHash string
	Record      func(result any) (*events.IdempotencyRecord, error)
}

type idemKey struct{}

// WithIdempotency attaches an Idempotency-Key intent to ctx.
func WithIdempotency(ctx context.Context, i *Idempotency) context.Context {
	return context.WithValue(ctx, idemKey{}, i)
}

// IdempotencyRecord renders the record for result when the request
// carries an Idempotency-Key, else nil: what an append stores, and what a
// change outside the event log (webhook subscriptions) stores in its own
// transaction (pgstore.RecordIdempotency).
func IdempotencyRecord(ctx context.Context, result any) (*events.IdempotencyRecord, error) {
	i, _ := ctx.Value(idemKey{}).(*Idempotency)
	if i == nil || i.Record == nil {
		return nil, nil
	}
	rec, err := i.Record(result)
	if err != nil || rec == nil {
		return rec, err
	}
	rec.UserID, rec.Key, rec.RequestHash = i.UserID, i.Key, i.RequestHash
	return rec, nil
}
