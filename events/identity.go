package events

import "github.com/google/uuid"

// Stream types of identity.
const (
	StreamUser         = "user"
	StreamOrganization = "organization"
)

// UserRegistered starts a user's stream. A user stream's tenant is the
// user itself: users exist apart from any organization. The bcrypt hash
// travels in the event so the users table can be rebuilt from the log like
// any other; the plain password never does, and no API shows user events.
type UserRegistered struct {
	UserID       uuid.UUID `json:"user_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"`
}

// EventType implements Payload.
func (UserRegistered) EventType() string { return "user.registered" }

// OrganizationCreated starts an organization's stream; its creator is the
// owner (a MemberAdded with role owner follows in the same append).
type OrganizationCreated struct {
	OrganizationID uuid.UUID `json:"organization_id"`
	Name           string    `json:"name"`
	CreatedBy      uuid.UUID `json:"created_by"`
}

// EventType implements Payload.
func (OrganizationCreated) EventType() string { return "organization.created" }

// OrganizationRenamed records a new name.
type OrganizationRenamed struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// EventType implements Payload.
func (OrganizationRenamed) EventType() string { return "organization.renamed" }

// OrganizationDeleted ends an organization: every access to it is refused
// afterwards and its data leaves all lists.
type OrganizationDeleted struct{}

// EventType implements Payload.
func (OrganizationDeleted) EventType() string { return "organization.deleted" }

// MemberAdded grants a user a role in the organization.
type MemberAdded struct {
	UserID uuid.UUID `json:"user_id"`
	Role   string    `json:"role"`
}

// EventType implements Payload.
func (MemberAdded) EventType() string { return "organization.member_added" }

// MemberRoleChanged changes a member's role.
type MemberRoleChanged struct {
	UserID uuid.UUID `json:"user_id"`
	Old    string    `json:"old"`
	New    string    `json:"new"`
}

// EventType implements Payload.
func (MemberRoleChanged) EventType() string { return "organization.member_role_changed" }

// MemberRemoved revokes a membership (removal by an admin, or leaving).
type MemberRemoved struct {
	UserID uuid.UUID `json:"user_id"`
	Role   string    `json:"role"`
}

// EventType implements Payload.
func (MemberRemoved) EventType() string { return "organization.member_removed" }

// OwnershipTransferred makes another member the owner; the previous owner
// becomes an admin.
type OwnershipTransferred struct {
	From uuid.UUID `json:"from"`
	To   uuid.UUID `json:"to"`
}

// EventType implements Payload.
func (OwnershipTransferred) EventType() string { return "organization.ownership_transferred" }
