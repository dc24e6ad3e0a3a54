package aggregates_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// An organization in which ownerID owns, and adminID, managerID and
// memberID hold the roles their names say. otherID belongs to no one.
func organization() []events.Payload {
	return []events.Payload{
		events.OrganizationCreated{OrganizationID: orgID, Name: "Acme", CreatedBy: ownerID},
		events.MemberAdded{UserID: ownerID, Role: "owner"},
		events.MemberAdded{UserID: adminID, Role: "admin"},
		events.MemberAdded{UserID: managerID, Role: "manager"},
		events.MemberAdded{UserID: memberID, Role: "member"},
	}
}

// and appends more history to a given one.
func and(history []events.Payload, more ...events.Payload) []events.Payload {
	return append(append([]events.Payload{}, history...), more...)
}

// every role, for rules that hold for each of them.
var everyRole = []struct {
	name   string
	caller aggregates.Caller
}{
	{"owner", asOwner}, {"admin", asAdmin}, {"manager", asManager}, {"member", asMember},
}

type org = aggregates.Organization

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	create := func(name string) func(*org) ([]events.Payload, error) {
		return func(*org) ([]events.Payload, error) { return aggregates.CreateOrganization(ownerID, orgID, name) }
	}
	checkRules(t, []rule[*org]{
		{name: "the creator is the owner", when: create("  Acme  "), then: []events.Payload{
			events.OrganizationCreated{OrganizationID: orgID, Name: "Acme", CreatedBy: ownerID},
			events.MemberAdded{UserID: ownerID, Role: "owner"},
		}},
		{name: "empty name", when: create("   "), code: crm.CodeValidation},
		{name: "201 characters", when: create(strings.Repeat("é", 201)), code: crm.CodeValidation},
		{name: "200 characters", when: create(strings.Repeat("é", 200)), then: []events.Payload{
			events.OrganizationCreated{OrganizationID: orgID, Name: strings.Repeat("é", 200), CreatedBy: ownerID},
			events.MemberAdded{UserID: ownerID, Role: "owner"},
		}},
	})
}

func TestOrganizationState(t *testing.T) {
	t.Parallel()
	o := given(t, &org{}, and(organization(),
		events.OrganizationRenamed{Old: "Acme", New: "Acme Corp"},
		events.MemberRoleChanged{UserID: memberID, Old: "member", New: "manager"},
		events.MemberRemoved{UserID: managerID, Role: "manager"},
		events.OwnershipTransferred{From: ownerID, To: adminID},
	)...)
	want := map[uuid.UUID]crm.Role{ownerID: crm.RoleAdmin, adminID: crm.RoleOwner, memberID: crm.RoleManager}
	if o.ID != orgID || o.Name != "Acme Corp" || o.Owner != adminID || o.Version != 9 || o.Deleted {
		t.Fatalf("state = %+v", o)
	}
	if len(o.Members) != len(want) {
		t.Fatalf("members = %v, want %v", o.Members, want)
	}
	for id, role := range want {
		if o.Members[id] != role {
			t.Fatalf("members = %v, want %v", o.Members, want)
		}
	}
	if !o.CreatedAt.Equal(at(1)) || !o.JoinedAt[memberID].Equal(at(5)) {
		t.Fatalf("created %v, member joined %v", o.CreatedAt, o.JoinedAt[memberID])
	}
	if _, ok := o.JoinedAt[managerID]; ok {
		t.Fatal("a removed member keeps a join time")
	}
}

// The roles table of API.md §3, for the organization's own actions.
func TestOrganizationRoles(t *testing.T) {
	t.Parallel()
	type action struct {
		name string
		when func(c aggregates.Caller) func(*org) ([]events.Payload, error)
		then []events.Payload
		// allowed lists the roles that may; the others get 403 FORBIDDEN.
		allowed []string
	}
	actions := []action{
		{
			name: "rename",
			when: func(c aggregates.Caller) func(*org) ([]events.Payload, error) {
				return func(o *org) ([]events.Payload, error) { return o.Rename(c, "Acme Corp") }
			},
			then:    []events.Payload{events.OrganizationRenamed{Old: "Acme", New: "Acme Corp"}},
			allowed: []string{"owner", "admin"},
		},
		{
			name: "delete",
			when: func(c aggregates.Caller) func(*org) ([]events.Payload, error) {
				return func(o *org) ([]events.Payload, error) { return o.Delete(c) }
			},
			then:    []events.Payload{events.OrganizationDeleted{}},
			allowed: []string{"owner"},
		},
		{
			name: "transfer ownership",
			when: func(c aggregates.Caller) func(*org) ([]events.Payload, error) {
				return func(o *org) ([]events.Payload, error) { return o.TransferOwnership(c, memberID) }
			},
			then:    []events.Payload{events.OwnershipTransferred{From: ownerID, To: memberID}},
			allowed: []string{"owner"},
		},
		{
			name: "add member",
			when: func(c aggregates.Caller) func(*org) ([]events.Payload, error) {
				return func(o *org) ([]events.Payload, error) { return o.AddMember(c, otherID, crm.RoleManager) }
			},
			then:    []events.Payload{events.MemberAdded{UserID: otherID, Role: "manager"}},
			allowed: []string{"owner", "admin"},
		},
		{
			name: "change role",
			when: func(c aggregates.Caller) func(*org) ([]events.Payload, error) {
				return func(o *org) ([]events.Payload, error) { return o.ChangeRole(c, memberID, crm.RoleAdmin) }
			},
			then:    []events.Payload{events.MemberRoleChanged{UserID: memberID, Old: "member", New: "admin"}},
			allowed: []string{"owner", "admin"},
		},
		{
			name: "remove another member",
			when: func(c aggregates.Caller) func(*org) ([]events.Payload, error) {
				return func(o *org) ([]events.Payload, error) { return o.RemoveMember(c, managerID) }
			},
			then:    []events.Payload{events.MemberRemoved{UserID: managerID, Role: "manager"}},
			allowed: []string{"owner", "admin", "manager"}, // a manager removing the manager is leaving
		},
	}
	var rules []rule[*org]
	for _, a := range actions {
		for _, r := range everyRole {
			rl := rule[*org]{name: a.name + " as " + r.name, given: organization(), when: a.when(r.caller), code: crm.CodeForbidden}
			for _, ok := range a.allowed {
				if ok == r.name {
					rl.then, rl.code = a.then, ""
				}
			}
			rules = append(rules, rl)
		}
		rules = append(rules,
			rule[*org]{name: a.name + " by a non-member", given: organization(), when: a.when(asOther), code: crm.CodeNotAMember},
			rule[*org]{name: a.name + " in a deleted organization", given: and(organization(), events.OrganizationDeleted{}), when: a.when(asOwner), code: crm.CodeNotAMember},
			rule[*org]{name: a.name + " in no organization", when: a.when(asOwner), code: crm.CodeNotAMember},
		)
	}
	// Leaving: every role but the owner may remove itself.
	for _, r := range everyRole {
		rl := rule[*org]{name: "leave as " + r.name, given: organization(),
			when: func(o *org) ([]events.Payload, error) { return o.RemoveMember(r.caller, r.caller.UserID) },
			then: []events.Payload{events.MemberRemoved{UserID: r.caller.UserID, Role: r.name}}}
		if r.name == "owner" {
			rl.then, rl.code = nil, crm.CodeOwnerCannotLeave
		}
		rules = append(rules, rl)
	}
	checkRules(t, rules)
}

func TestOrganizationRules(t *testing.T) {
	t.Parallel()
	var (
		rename = func(c aggregates.Caller, name string) func(*org) ([]events.Payload, error) {
			return func(o *org) ([]events.Payload, error) { return o.Rename(c, name) }
		}
		add = func(c aggregates.Caller, user uuid.UUID, role crm.Role) func(*org) ([]events.Payload, error) {
			return func(o *org) ([]events.Payload, error) { return o.AddMember(c, user, role) }
		}
		change = func(c aggregates.Caller, user uuid.UUID, role crm.Role) func(*org) ([]events.Payload, error) {
			return func(o *org) ([]events.Payload, error) { return o.ChangeRole(c, user, role) }
		}
		remove = func(c aggregates.Caller, user uuid.UUID) func(*org) ([]events.Payload, error) {
			return func(o *org) ([]events.Payload, error) { return o.RemoveMember(c, user) }
		}
		transfer = func(c aggregates.Caller, to uuid.UUID) func(*org) ([]events.Payload, error) {
			return func(o *org) ([]events.Payload, error) { return o.TransferOwnership(c, to) }
		}
	)
	transferred := and(organization(), events.OwnershipTransferred{From: ownerID, To: adminID})
	checkRules(t, []rule[*org]{
		// Rename.
		{name: "rename trims", given: organization(), when: rename(asAdmin, " New "), then: []events.Payload{events.OrganizationRenamed{Old: "Acme", New: "New"}}},
		{name: "rename to the same name changes nothing", given: organization(), when: rename(asOwner, "Acme")},
		{name: "rename to nothing", given: organization(), when: rename(asOwner, " "), code: crm.CodeValidation},
		{name: "rename: 403 comes before 400", given: organization(), when: rename(asMember, ""), code: crm.CodeForbidden},

		// Add a member.
		{name: "add an admin", given: organization(), when: add(asAdmin, otherID, crm.RoleAdmin), then: []events.Payload{events.MemberAdded{UserID: otherID, Role: "admin"}}},
		{name: "add a member", given: organization(), when: add(asOwner, otherID, crm.RoleMember), then: []events.Payload{events.MemberAdded{UserID: otherID, Role: "member"}}},
		{name: "add as owner", given: organization(), when: add(asOwner, otherID, crm.RoleOwner), code: crm.CodeInvalidRole},
		{name: "add with an unknown role", given: organization(), when: add(asOwner, otherID, "boss"), code: crm.CodeInvalidRole},
		{name: "add an unknown user", given: organization(), when: add(asOwner, uuid.Nil, crm.RoleMember), code: crm.CodeUserNotFound},
		{name: "add a member twice", given: organization(), when: add(asOwner, memberID, crm.RoleMember), code: crm.CodeAlreadyMember},
		{name: "add: 403 comes before 400", given: organization(), when: add(asManager, otherID, "boss"), code: crm.CodeForbidden},
		{name: "add: 400 comes before 404", given: organization(), when: add(asOwner, uuid.Nil, "boss"), code: crm.CodeInvalidRole},
		{name: "add a former member again", given: and(organization(), events.MemberRemoved{UserID: memberID, Role: "member"}),
			when: add(asOwner, memberID, crm.RoleManager), then: []events.Payload{events.MemberAdded{UserID: memberID, Role: "manager"}}},

		// Change a role.
		{name: "promote to admin", given: organization(), when: change(asAdmin, managerID, crm.RoleAdmin), then: []events.Payload{events.MemberRoleChanged{UserID: managerID, Old: "manager", New: "admin"}}},
		{name: "an admin demotes itself", given: organization(), when: change(asAdmin, adminID, crm.RoleMember), then: []events.Payload{events.MemberRoleChanged{UserID: adminID, Old: "admin", New: "member"}}},
		{name: "the same role changes nothing", given: organization(), when: change(asOwner, memberID, crm.RoleMember)},
		{name: "to owner", given: organization(), when: change(asOwner, memberID, crm.RoleOwner), code: crm.CodeInvalidRole},
		{name: "to an unknown role", given: organization(), when: change(asOwner, memberID, "Admin"), code: crm.CodeInvalidRole},
		{name: "the owner's role", given: organization(), when: change(asAdmin, ownerID, crm.RoleMember), code: crm.CodeCannotChangeOwnerRole},
		{name: "the owner's own role", given: organization(), when: change(asOwner, ownerID, crm.RoleAdmin), code: crm.CodeCannotChangeOwnerRole},
		{name: "a non-member's role", given: organization(), when: change(asOwner, otherID, crm.RoleAdmin), code: crm.CodeUserNotFound},
		{name: "change: 404 comes before 403", given: organization(), when: change(asMember, otherID, crm.RoleAdmin), code: crm.CodeUserNotFound},
		{name: "change: 403 comes before 400", given: organization(), when: change(asMember, managerID, "boss"), code: crm.CodeForbidden},
		{name: "change: 400 INVALID_ROLE comes before CANNOT_CHANGE_OWNER_ROLE", given: organization(), when: change(asAdmin, ownerID, "boss"), code: crm.CodeInvalidRole},

		// Remove a member.
		{name: "remove the owner", given: organization(), when: remove(asAdmin, ownerID), code: crm.CodeOwnerCannotLeave},
		{name: "remove an admin", given: organization(), when: remove(asAdmin, adminID), then: []events.Payload{events.MemberRemoved{UserID: adminID, Role: "admin"}}},
		{name: "remove a non-member", given: organization(), when: remove(asOwner, otherID), code: crm.CodeUserNotFound},
		{name: "remove: 403 comes before 400", given: organization(), when: remove(asManager, ownerID), code: crm.CodeForbidden},
		{name: "a removed member can no longer act", given: and(organization(), events.MemberRemoved{UserID: adminID, Role: "admin"}),
			when: rename(asAdmin, "x"), code: crm.CodeNotAMember},

		// Transfer ownership.
		{name: "transfer to a member", given: organization(), when: transfer(asOwner, managerID), then: []events.Payload{events.OwnershipTransferred{From: ownerID, To: managerID}}},
		{name: "transfer to a non-member", given: organization(), when: transfer(asOwner, otherID), code: crm.CodeUserNotFound},
		{name: "transfer to nobody", given: organization(), when: transfer(asOwner, uuid.Nil), code: crm.CodeValidation},
		{name: "transfer to oneself changes nothing", given: organization(), when: transfer(asOwner, ownerID)},
		{name: "transfer: 403 comes before 404", given: organization(), when: transfer(asAdmin, otherID), code: crm.CodeForbidden},
		{name: "after a transfer the old owner is an admin", given: transferred, when: transfer(asOwner, memberID), code: crm.CodeForbidden},
		{name: "after a transfer the old owner may leave", given: transferred, when: remove(asOwner, ownerID),
			then: []events.Payload{events.MemberRemoved{UserID: ownerID, Role: "admin"}}},
		{name: "after a transfer the new owner decides", given: transferred, when: transfer(asAdmin, ownerID),
			then: []events.Payload{events.OwnershipTransferred{From: adminID, To: ownerID}}},
		{name: "after a transfer the new owner cannot leave", given: transferred, when: remove(asAdmin, adminID), code: crm.CodeOwnerCannotLeave},
	})
}

func TestCheckRegistration(t *testing.T) {
	t.Parallel()
	ok := aggregates.Registration{Email: " Ada@Example.com ", Password: " secret pw ", Name: " Ada ", OrganizationName: " Acme "}
	got, err := aggregates.CheckRegistration(ok)
	if err != nil {
		t.Fatal(err)
	}
	want := aggregates.Registration{Email: "Ada@Example.com", Password: " secret pw ", Name: "Ada", OrganizationName: "Acme"}
	if got != want {
		t.Fatalf("normalized = %+v, want %+v", got, want)
	}
	_, err = aggregates.CheckRegistration(aggregates.Registration{Email: "not an address", Password: "short", Name: "", OrganizationName: strings.Repeat("x", 201)})
	failsWith(t, err, "email", "password", "name", "organization_name")
	for _, pw := range []string{strings.Repeat("p", 7), strings.Repeat("p", 129)} {
		in := ok
		in.Password = pw
		_, err := aggregates.CheckRegistration(in)
		failsWith(t, err, "password")
	}
	for _, pw := range []string{strings.Repeat("p", 8), strings.Repeat("é", 128)} {
		in := ok
		in.Password = pw
		if _, err := aggregates.CheckRegistration(in); err != nil {
			t.Fatalf("password of %d characters: %v", len([]rune(pw)), err)
		}
	}
}

func TestUserState(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0195a000-0000-7000-8000-0000000000e1")
	decided, err := aggregates.RegisterUser(id, aggregates.Registration{Email: "ada@example.com", Name: "Ada"}, "$2a$10$hash")
	if err != nil {
		t.Fatal(err)
	}
	u := given(t, &aggregates.User{}, decided...)
	if !u.Exists() || u.ID != id || u.Email != "ada@example.com" || u.Name != "Ada" || u.PasswordHash != "$2a$10$hash" ||
		u.Version != 1 || !u.CreatedAt.Equal(at(1)) {
		t.Fatalf("user = %+v", u)
	}
	if _, err := aggregates.RegisterUser(id, aggregates.Registration{Email: "a@b.c"}, ""); err == nil {
		t.Fatal("a user without a password hash was decided")
	}
}
