package aggregates

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
)

// Caller is who asks an aggregate to decide: the authenticated user and
// their role in the organization, as read from the membership table on
// this very request. The zero Caller (no role) may do only what a member
// may do on entities it does not own, which is nothing: it fails closed.
type Caller struct {
	UserID uuid.UUID
	Role   crm.Role
}

// CanManageOthers reports whether the caller may act on entities owned by
// someone else and assign them to another member: owner, admin, manager
// (API.md §3).
func (c Caller) CanManageOthers() bool {
	switch c.Role {
	case crm.RoleOwner, crm.RoleAdmin, crm.RoleManager:
		return true
	}
	return false
}

// IsAdmin reports whether the caller is the organization's owner or an
// admin, the roles that may also move a deal's stage backwards.
func (c Caller) IsAdmin() bool {
	return c.Role == crm.RoleOwner || c.Role == crm.RoleAdmin
}

// Owns reports whether the caller is ownerID ("own" in API.md §3).
func (c Caller) Owns(ownerID uuid.UUID) bool {
	return c.UserID != uuid.Nil && c.UserID == ownerID
}

// CanActOn reports whether the caller may update or delete an entity
// owned by ownerID: managers and up on any, members on their own only.
func (c Caller) CanActOn(ownerID uuid.UUID) bool {
	return c.CanManageOthers() || c.Owns(ownerID)
}

// mayActOn answers 403 FORBIDDEN when the caller may not act on an entity
// of ownerID; what names the entity for the message.
func (c Caller) mayActOn(ownerID uuid.UUID, what string) error {
	if !c.CanActOn(ownerID) {
		return crm.Errorf(crm.CodeForbidden, "a %s may only change their own %s", c.roleName(), what)
	}
	return nil
}

// MayAssignTo answers 403 FORBIDDEN when the caller may not make ownerID
// the owner of an entity: members may assign only to themselves.
func (c Caller) MayAssignTo(ownerID uuid.UUID, what string) error {
	if !c.CanManageOthers() && !c.Owns(ownerID) {
		return crm.Errorf(crm.CodeForbidden, "a %s may not assign a %s to another member", c.roleName(), what)
	}
	return nil
}

func (c Caller) roleName() string {
	if c.Role.Valid() {
		return string(c.Role)
	}
	return "caller without a role"
}

// Field is one field of a PATCH: Set says whether the request named it at
// all, Value is its new value. For nullable fields T is a pointer and a
// nil Value clears the field.
type Field[T any] struct {
	Set   bool
	Value T
}

// SetTo returns a Field that sets v.
func SetTo[T any](v T) Field[T] {
	return Field[T]{Set: true, Value: v}
}

// problems collects the invalid fields of one input, so that a request
// with several mistakes gets one VALIDATION_ERROR naming all of them.
type problems []crm.FieldError

func (p *problems) add(field, message string) {
	*p = append(*p, crm.FieldError{Field: field, Message: message})
}

// err returns the VALIDATION_ERROR, or nil when every field was valid.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return crm.Invalid(p...)
}

// requiredText trims s and checks it holds 1 to max characters (runes);
// it returns the trimmed text.
func (p *problems) requiredText(field, s string, max int) string {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		p.add(field, "must not be empty")
	case n > max:
		p.add(field, fmt.Sprintf("must be at most %d characters", max))
	}
	return s
}

// requiredID checks that an id is present.
func (p *problems) requiredID(field string, id uuid.UUID) {
	if id == uuid.Nil {
		p.add(field, "must be a non-nil UUID")
	}
}

// ptrValue turns an optional string into the plain JSON value a Change
// carries: nil or the string.
func ptrValue(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// samePtr reports whether two optional strings are equal.
func samePtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// changedString reads the new value of a string field from a Change as
// stored (a string), reporting false for anything else.
func changedString(ch events.Change) (string, bool) {
	s, ok := ch.New.(string)
	return s, ok
}

// changedPtr reads the new value of a nullable string field: nil clears.
func changedPtr(ch events.Change) *string {
	if s, ok := ch.New.(string); ok {
		return &s
	}
	return nil
}

// changedID reads the new value of an id field, a UUID string.
func changedID(ch events.Change) (uuid.UUID, bool) {
	switch v := ch.New.(type) {
	case string:
		id, err := uuid.Parse(v)
		return id, err == nil
	case uuid.UUID:
		return v, true
	}
	return uuid.Nil, false
}
