package aggregates

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"example.com/crm/events"
)

// User is a person who can log in, rebuilt from its "user" stream. Users
// exist apart from organizations; memberships live on the organization.
type User struct {
	ID           uuid.UUID
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
	Version      int
}

// Limits of registration (API.md §2 and §4 Auth).
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
	MaxUserNameLen = 200
)

// Apply implements State.
func (u *User) Apply(e events.Event) {
	if d, ok := e.Data.(events.UserRegistered); ok {
		u.ID, u.Email, u.Name, u.PasswordHash, u.CreatedAt = d.UserID, d.Email, d.Name, d.PasswordHash, e.OccurredAt
	}
	u.Version = e.Version
}

// Exists reports whether the user was registered.
func (u *User) Exists() bool { return u.ID != uuid.Nil }

// Registration is the body of "register": a user and their first
// organization.
type Registration struct {
	Email, Password, Name, OrganizationName string
}

// CheckRegistration validates a registration, naming every invalid field
// in one VALIDATION_ERROR, and returns it normalized: the e-mail, name and
// organization name trimmed. The password is checked (8–128 characters)
// but never altered: spaces are part of it.
//
// It runs before the password is hashed, so that a bad request costs no
// bcrypt round.
func CheckRegistration(in Registration) (Registration, error) {
	var p problems
	email := p.email(&in.Email)
	if n := utf8.RuneCountInString(in.Password); n < MinPasswordLen || n > MaxPasswordLen {
		p.add("password", fmt.Sprintf("must be %d to %d characters", MinPasswordLen, MaxPasswordLen))
	}
	name := p.requiredText("name", in.Name, MaxUserNameLen)
	org := p.requiredText("organization_name", in.OrganizationName, MaxOrganizationNameLen)
	if err := p.err(); err != nil {
		return Registration{}, err
	}
	return Registration{Email: *email, Password: in.Password, Name: name, OrganizationName: org}, nil
}

// RegisterUser decides user id's first event from a checked registration
// and the hash of its password (hashing is the command's: it is slow and
// salted, hence neither pure nor deterministic).
func RegisterUser(id uuid.UUID, in Registration, passwordHash string) ([]events.Payload, error) {
	if id == uuid.Nil || passwordHash == "" || in.Email == "" {
		return nil, fmt.Errorf("aggregates.RegisterUser: id, e-mail and password hash are required")
	}
	return []events.Payload{events.UserRegistered{
		UserID: id, Email: in.Email, Name: in.Name, PasswordHash: passwordHash,
	}}, nil
}
