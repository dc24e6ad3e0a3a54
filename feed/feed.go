// Package feed reads one organization's events from the log, in the
// order projectors read them, for those who follow the organization from
// outside: the event feed (GET /events) and webhook delivery.
//
// The order is projection order, (transaction_id, position), and only
// transactions below the snapshot xmin are read: an event whose
// transaction commits after a later one is still read before the cursor
// passes it, so a follower never skips what committed late. Positions
// alone would (they are handed out at insert, not at commit).
//
// User events never appear (a user's stream belongs to no organization,
// and carries the password hash); every other event of the organization
// does, its payload upcast to the current schema as in a deal's history.
package feed

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/readapi"
)

// Cursor is a point in projection order: a read after it returns the
// events that follow it. The zero Cursor is the start of the log.
type Cursor struct {
	TransactionID uint64
	Position      int64
}

// cursorPrefix versions the text form, so it can change without breaking
// the cursors clients hold.
const cursorPrefix = "1:"

// String is the cursor's opaque text form (URL-safe base64).
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d:%d", cursorPrefix, c.TransactionID, c.Position))
}

// ParseCursor reads a cursor from its text form; "" is the start of the
// log. Anything that String did not produce is a VALIDATION_ERROR naming
// the field "after".
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := crm.Invalid(crm.FieldError{Field: "after", Message: "is not a cursor this API handed out (pass back a next value)"})
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return Cursor{}, bad
	}
	xs, ps, ok := strings.Cut(rest, ":")
	if !ok {
		return Cursor{}, bad
	}
	xid, err1 := strconv.ParseUint(xs, 10, 64)
	pos, err2 := strconv.ParseInt(ps, 10, 64)
	if err1 != nil || err2 != nil || pos < 0 || (Cursor{xid, pos}).String() != s {
		return Cursor{}, bad
	}
	return Cursor{TransactionID: xid, Position: pos}, nil
}

// Event is one event as the feed and webhook deliveries show it.
type Event struct {
	ID         uuid.UUID `json:"id"`
	Position   int64     `json:"position"`
	Type       string    `json:"type"`
	StreamType string    `json:"stream_type"`
	StreamID   uuid.UUID `json:"stream_id"`
	Version    int       `json:"version"`
	// Data is the payload, upcast to its current schema.
	Data       json.RawMessage `json:"data"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	OccurredAt readapi.Time    `json:"occurred_at"`
	// Cursor is the event's place in projection order: a read after it
	// continues with the next event.
	Cursor Cursor `json:"-"`
}

// Types selects event types: exact names ("deal.created") and prefixes
// ("deal.*"). The zero Types selects every type.
type Types struct {
	patterns []string
	exact    []string
	prefixes []string // with the trailing dot: "deal."
}

// hiddenPrefix is the stream kind whose events never leave the server.
const hiddenPrefix = events.StreamUser + "."

// ParseTypes reads type patterns: each a registered event name or a
// prefix of one followed by ".*". Anything else, and user events, are a
// VALIDATION_ERROR naming the field "type" (a typo that silently matched
// nothing would look like a quiet organization).
func ParseTypes(patterns []string) (Types, error) { return ParseTypesField("type", patterns) }

// ParseTypesField is ParseTypes for input that arrives as field.
func ParseTypesField(field string, patterns []string) (Types, error) {
	names := events.Domain().Names()
	var t Types
	var bad []crm.FieldError
	for _, p := range patterns {
		prefix, isPrefix := strings.CutSuffix(p, ".*")
		switch {
		case strings.HasPrefix(p, hiddenPrefix):
			bad = append(bad, crm.FieldError{Field: field, Message: fmt.Sprintf("%q: user events never appear here", p)})
		case isPrefix && prefix != "" && !strings.Contains(prefix, "*") && slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, prefix+".") }):
			t.prefixes = append(t.prefixes, prefix+".")
			t.patterns = append(t.patterns, p)
		case !isPrefix && slices.Contains(names, p):
			t.exact = append(t.exact, p)
			t.patterns = append(t.patterns, p)
		default:
			bad = append(bad, crm.FieldError{Field: field, Message: fmt.Sprintf("%q is neither an event type nor a prefix of one followed by .* (e.g. deal.*)", p)})
		}
	}
	if len(bad) > 0 {
		return Types{}, crm.Invalid(bad...)
	}
	return t, nil
}

// Match reports whether t selects eventType.
func (t Types) Match(eventType string) bool {
	if len(t.patterns) == 0 {
		return !strings.HasPrefix(eventType, hiddenPrefix)
	}
	if slices.Contains(t.exact, eventType) {
		return true
	}
	return slices.ContainsFunc(t.prefixes, func(p string) bool { return strings.HasPrefix(eventType, p) })
}

// Patterns lists the patterns t was parsed from (nil for every type).
func (t Types) Patterns() []string { return slices.Clone(t.patterns) }

// All reports whether t selects every type.
func (t Types) All() bool { return len(t.patterns) == 0 }
