package aggregates

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
)

// MaxOrganizationNameLen bounds an organization's name (API.md §4).
const MaxOrganizationNameLen = 200

// Organization is a tenant, rebuilt from its "organization" stream: its
// name, whether it was deleted, and who belongs to it with which role.
//
// Every decision takes the caller's role from Members, the aggregate's own
// state, not from the Caller: the membership table the tenancy check read
// was written from these very events, and deciding on the stream makes a
// concurrent role change (say, the caller's demotion) lose the
// optimistic-concurrency race instead of slipping through.
type Organization struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
	Deleted   bool
	Version   int
	// Owner is the one member with role owner (API.md §3: exactly one).
	Owner uuid.UUID
	// Members maps every member's user id to their role.
	Members map[uuid.UUID]crm.Role
	// JoinedAt is when each member joined (their MemberAdded).
	JoinedAt map[uuid.UUID]time.Time
}

// Apply implements State.
func (o *Organization) Apply(e events.Event) {
	switch d := e.Data.(type) {
	case events.OrganizationCreated:
		o.ID, o.Name, o.CreatedAt = d.OrganizationID, d.Name, e.OccurredAt
		o.Members, o.JoinedAt = map[uuid.UUID]crm.Role{}, map[uuid.UUID]time.Time{}
	case events.OrganizationRenamed:
		o.Name = d.New
	case events.OrganizationDeleted:
		o.Deleted = true
	case events.MemberAdded:
		o.init()
		role := crm.Role(d.Role)
		o.Members[d.UserID], o.JoinedAt[d.UserID] = role, e.OccurredAt
		if role == crm.RoleOwner {
			o.Owner = d.UserID
		}
	case events.MemberRoleChanged:
		o.init()
		o.Members[d.UserID] = crm.Role(d.New)
	case events.MemberRemoved:
		delete(o.Members, d.UserID)
		delete(o.JoinedAt, d.UserID)
	case events.OwnershipTransferred:
		o.init()
		o.Members[d.From], o.Members[d.To], o.Owner = crm.RoleAdmin, crm.RoleOwner, d.To
	}
	o.Version = e.Version
}

func (o *Organization) init() {
	if o.Members == nil {
		o.Members = map[uuid.UUID]crm.Role{}
	}
	if o.JoinedAt == nil {
		o.JoinedAt = map[uuid.UUID]time.Time{}
	}
}

// CreateOrganization decides the creation of organization id by creator,
// who becomes its owner: OrganizationCreated, then MemberAdded (owner), in
// one append.
func CreateOrganization(creator, id uuid.UUID, name string) ([]events.Payload, error) {
	if creator == uuid.Nil || id == uuid.Nil {
		return nil, fmt.Errorf("aggregates.CreateOrganization: creator and id are required")
	}
	var p problems
	name = p.requiredText("name", name, MaxOrganizationNameLen)
	if err := p.err(); err != nil {
		return nil, err
	}
	return []events.Payload{
		events.OrganizationCreated{OrganizationID: id, Name: name, CreatedBy: creator},
		events.MemberAdded{UserID: creator, Role: string(crm.RoleOwner)},
	}, nil
}

// Rename decides a new name: owner and admins only (403 FORBIDDEN). The
// same name decides no event.
func (o *Organization) Rename(c Caller, name string) ([]events.Payload, error) {
	if err := o.MayRename(c); err != nil {
		return nil, err
	}
	var p problems
	name = p.requiredText("name", name, MaxOrganizationNameLen)
	if err := p.err(); err != nil {
		return nil, err
	}
	if name == o.Name {
		return nil, nil
	}
	return []events.Payload{events.OrganizationRenamed{Old: o.Name, New: name}}, nil
}

// Delete decides the end of the organization: the owner only (403
// FORBIDDEN). Afterwards every access to it is refused.
func (o *Organization) Delete(c Caller) ([]events.Payload, error) {
	if err := o.MayDelete(c); err != nil {
		return nil, err
	}
	return []events.Payload{events.OrganizationDeleted{}}, nil
}

// AddMember decides that user joins with role. Owner and admins only (403
// FORBIDDEN); role must be admin, manager or member (400 INVALID_ROLE:
// there is one owner, made by TransferOwnership); a zero user is one the
// command could not find (404 USER_NOT_FOUND); a member cannot join twice
// (409 ALREADY_MEMBER).
func (o *Organization) AddMember(c Caller, user uuid.UUID, role crm.Role) ([]events.Payload, error) {
	if err := o.managersOnly(c, "add members"); err != nil {
		return nil, err
	}
	if err := assignableRole(role); err != nil {
		return nil, err
	}
	if user == uuid.Nil {
		return nil, crm.Errorf(crm.CodeUserNotFound, "no such user")
	}
	if _, ok := o.Members[user]; ok {
		return nil, crm.Errorf(crm.CodeAlreadyMember, "user %s is already a member", user)
	}
	return []events.Payload{events.MemberAdded{UserID: user, Role: string(role)}}, nil
}

// ChangeRole decides member user's new role. The member must exist (404
// USER_NOT_FOUND); owner and admins only (403 FORBIDDEN); role must be
// admin, manager or member (400 INVALID_ROLE); the owner's role changes
// only by a transfer (400 CANNOT_CHANGE_OWNER_ROLE). The same role
// decides no event.
func (o *Organization) ChangeRole(c Caller, user uuid.UUID, role crm.Role) ([]events.Payload, error) {
	if err := o.MayChangeRole(c, user); err != nil {
		return nil, err
	}
	current := o.Members[user]
	if err := assignableRole(role); err != nil {
		return nil, err
	}
	if current == crm.RoleOwner {
		return nil, crm.Errorf(crm.CodeCannotChangeOwnerRole, "the owner's role changes only by transferring ownership")
	}
	if current == role {
		return nil, nil
	}
	return []events.Payload{events.MemberRoleChanged{UserID: user, Old: string(current), New: string(role)}}, nil
}

// RemoveMember decides that member user leaves. The member must exist
// (404 USER_NOT_FOUND). Anyone may remove themselves (leave), except the
// owner (400 OWNER_CANNOT_LEAVE: transfer ownership first); removing
// someone else takes the owner or an admin (403 FORBIDDEN), and the owner
// cannot be removed (400 OWNER_CANNOT_LEAVE).
func (o *Organization) RemoveMember(c Caller, user uuid.UUID) ([]events.Payload, error) {
	if err := o.MayRemoveMember(c, user); err != nil {
		return nil, err
	}
	target := o.Members[user]
	if target == crm.RoleOwner {
		return nil, crm.Errorf(crm.CodeOwnerCannotLeave, "the owner cannot leave the organization; transfer ownership first")
	}
	return []events.Payload{events.MemberRemoved{UserID: user, Role: string(target)}}, nil
}

// TransferOwnership decides that member to becomes the owner and the
// current owner an admin: the owner only (403 FORBIDDEN), to a member
// (404 USER_NOT_FOUND). Transferring to oneself decides no event.
func (o *Organization) TransferOwnership(c Caller, to uuid.UUID) ([]events.Payload, error) {
	if err := o.MayTransferOwnership(c); err != nil {
		return nil, err
	}
	var p problems
	p.requiredID("user_id", to)
	if err := p.err(); err != nil {
		return nil, err
	}
	if _, err := o.member(to); err != nil {
		return nil, err
	}
	if to == o.Owner {
		return nil, nil
	}
	return []events.Payload{events.OwnershipTransferred{From: o.Owner, To: to}}, nil
}

// The checks each decision makes before it looks at what the request
// asks for, in API.md's order: the organization and the caller's
// membership (403 NOT_A_MEMBER), the entity the path names (404), the
// caller's role (403 FORBIDDEN). Each decision starts with its own; a
// command runs one alone, deciding nothing, for a request refused before
// its decision could run (a body that is not JSON, a malformed If-Match),
// so that a 404 or 403 still comes before that 400.

// MayRename: the owner and admins.
func (o *Organization) MayRename(c Caller) error {
	return o.managersOnly(c, "rename the organization")
}

// MayDelete: the owner only.
func (o *Organization) MayDelete(c Caller) error { return o.ownerOnly(c, "delete the organization") }

// MayTransferOwnership: the owner only.
func (o *Organization) MayTransferOwnership(c Caller) error {
	return o.ownerOnly(c, "transfer ownership")
}

// ownerOnly lets the owner do what, and nobody else (403 FORBIDDEN).
func (o *Organization) ownerOnly(c Caller, what string) error {
	role, err := o.access(c)
	if err != nil {
		return err
	}
	if role != crm.RoleOwner {
		return crm.Errorf(crm.CodeForbidden, "only the owner may %s", what)
	}
	return nil
}

// managersOnly lets the owner and admins do what (403 FORBIDDEN for a
// manager or member).
func (o *Organization) managersOnly(c Caller, what string) error {
	role, err := o.access(c)
	if err != nil {
		return err
	}
	if !managesMembers(role) {
		return crm.Errorf(crm.CodeForbidden, "a %s may not %s", role, what)
	}
	return nil
}

// MayChangeRole: member user must exist (404 USER_NOT_FOUND); the owner
// and admins only.
func (o *Organization) MayChangeRole(c Caller, user uuid.UUID) error {
	role, err := o.accessToMember(c, user)
	if err != nil {
		return err
	}
	if !managesMembers(role) {
		return crm.Errorf(crm.CodeForbidden, "a %s may not change roles", role)
	}
	return nil
}

// MayRemoveMember: member user must exist (404 USER_NOT_FOUND); anyone
// may remove themselves, the owner and admins anyone.
func (o *Organization) MayRemoveMember(c Caller, user uuid.UUID) error {
	role, err := o.accessToMember(c, user)
	if err != nil {
		return err
	}
	if user != c.UserID && !managesMembers(role) {
		return crm.Errorf(crm.CodeForbidden, "a %s may not remove other members", role)
	}
	return nil
}

// MayManageMembers answers whether the caller may add, re-role and remove
// members: nil for the owner and admins, 403 FORBIDDEN for the others
// (403 NOT_A_MEMBER outside a live organization). AddMember's command
// calls it before looking at the body, as API.md orders the checks.
func (o *Organization) MayManageMembers(c Caller) error {
	return o.managersOnly(c, "manage members")
}

// RoleOf returns user's role, and false when user is not a member.
func (o *Organization) RoleOf(user uuid.UUID) (crm.Role, bool) {
	r, ok := o.Members[user]
	return r, ok
}

// access returns the caller's role in a live organization. A missing or
// deleted organization, or a caller who is not a member, is 403
// NOT_A_MEMBER: the answer the tenancy check gives, so that a race with a
// removal or deletion ends the same way.
func (o *Organization) access(c Caller) (crm.Role, error) {
	if o.ID == uuid.Nil || o.Deleted {
		return "", crm.Errorf(crm.CodeNotAMember, "organization not found")
	}
	role, ok := o.Members[c.UserID]
	if !ok || c.UserID == uuid.Nil {
		return "", crm.Errorf(crm.CodeNotAMember, "not a member of the organization")
	}
	return role, nil
}

// accessToMember is access (the caller's role) for an action on member
// user, who must exist (404 USER_NOT_FOUND), in that order.
func (o *Organization) accessToMember(c Caller, user uuid.UUID) (crm.Role, error) {
	role, err := o.access(c)
	if err != nil {
		return "", err
	}
	if _, err := o.member(user); err != nil {
		return "", err
	}
	return role, nil
}

// member returns the role of member user, or 404 USER_NOT_FOUND.
func (o *Organization) member(user uuid.UUID) (crm.Role, error) {
	role, ok := o.Members[user]
	if !ok {
		return "", crm.Errorf(crm.CodeUserNotFound, "user %s is not a member of the organization", user)
	}
	return role, nil
}

// managesMembers reports whether role may add, re-role and remove
// members and rename the organization (API.md §3): owner and admin.
func managesMembers(role crm.Role) bool {
	return role == crm.RoleOwner || role == crm.RoleAdmin
}

// assignableRole accepts the roles a member can be given directly: admin,
// manager, member. Owner is refused too (400 INVALID_ROLE).
func assignableRole(role crm.Role) error {
	switch role {
	case crm.RoleAdmin, crm.RoleManager, crm.RoleMember:
		return nil
	case crm.RoleOwner:
		return crm.Errorf(crm.CodeInvalidRole, "role owner cannot be given; transfer ownership instead")
	}
	return crm.Errorf(crm.CodeInvalidRole, "role must be one of admin, manager, member")
}
