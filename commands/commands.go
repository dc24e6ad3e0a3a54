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
}

// New returns the write side over deps.
func New(d Deps) *Application {
	a := &Application{store: d.Store, dir: d.Directory, now: d.Now, newID: d.NewID, maxAttempts: d.MaxAttempts,
		users: d.Users, passwords: d.Passwords}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if a.newID == nil {
		a.newID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	if a.maxAttempts == 0 {
		a.maxAttempts = 16
	}
	return a
}

// Result is what every command reports: the position of its last event
// (X-Event-Position), zero when it appended nothing.
type Result struct {
	Position int64
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

// load rebuilds one aggregate of tenant from its stream and reports its
// version (0 when the stream does not exist).
func (a *Application) load(ctx context.Context, tenant, id uuid.UUID, s aggregates.State) (int, error) {
	evs, err := a.store.Load(ctx, tenant, id, events.LoadOptions{})
	if err != nil {
		return 0, err
	}
	aggregates.Replay(s, evs)
	if len(evs) == 0 {
		return 0, nil
	}
	return evs[len(evs)-1].Version, nil
}

// IfMatch is the version a client said it read (If-Match), or nil.
type IfMatch = *int

// today is the current date in UTC, for due-date rules.
func (a *Application) today() string { return a.now().UTC().Format(time.DateOnly) }

// stream names the stream of one entity of an organization.
func stream(org uuid.UUID, typ string, id uuid.UUID) events.Stream {
	return events.Stream{TenantID: org, Type: typ, ID: id}
}

// checkOwner answers 400 OWNER_NOT_MEMBER when an owner_id set by the
// caller names someone who is not a member of the organization.
func (a *Application) checkOwner(ctx context.Context, org uuid.UUID, c aggregates.Caller, owner *uuid.UUID) error {
	if owner == nil || *owner == c.UserID {
		return nil
	}
	ok, err := a.dir.IsMember(ctx, org, *owner)
	if err != nil {
		return err
	}
	if !ok {
		return &crm.Error{Code: crm.CodeOwnerNotMember, Message: "owner_id is not a member of this organization",
			Fields: []crm.FieldError{{Field: "owner_id", Message: "must be a member of the organization"}}}
	}
	return nil
}

// append stores b with the request's metadata and the idempotency record
// for result, and returns the position of its last event.
func (a *Application) append(ctx context.Context, org uuid.UUID, result any, appends ...events.Append) (Result, error) {
	meta, err := metadata(ctx, org)
	if err != nil {
		return Result{}, err
	}
	rec, err := idempotencyRecord(ctx, result)
	if err != nil {
		return Result{}, err
	}
	var nonEmpty []events.Append
	for _, ap := range appends {
		if len(ap.Events) > 0 {
			nonEmpty = append(nonEmpty, ap)
		}
	}
	res, err := a.store.Append(ctx, events.Batch{Metadata: meta, Streams: nonEmpty, Idempotency: rec})
	if err != nil {
		return Result{}, err
	}
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

// retry runs attempt (load, decide, append) until it succeeds, fails for a
// reason other than a version conflict, or the attempts run out. With
// If-Match, a conflict means the client's version is stale: 412 at once.
func (a *Application) retry(ctx context.Context, ifMatch IfMatch, attempt func(ctx context.Context) error) error {
	for i := 1; ; i++ {
		err := attempt(ctx)
		if !errors.Is(err, events.ErrConflict) {
			return err
		}
		if ifMatch != nil {
			return crm.Errorf(crm.CodeVersionMismatch, "the entity changed since version %d", *ifMatch)
		}
		if i >= a.maxAttempts {
			return &crm.Error{Code: crm.CodeConcurrentModify, Message: fmt.Sprintf("gave up after %d concurrent modifications; retry", i)}
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

// idempotencyRecord renders the record for result when the request
// carries an Idempotency-Key, else nil.
func idempotencyRecord(ctx context.Context, result any) (*events.IdempotencyRecord, error) {
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
