package httpapi

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/readapi"
	"example.com/crm/readapi/identity"
)

// mountOrganizations registers the organization and member routes on
// authed; those under /organizations/{org_id} also pass inOrg (the
// membership check of the path's organization, and Idempotent).
//
// Besides API.md's table, GET /organizations/{org_id} and GET
// /organizations/{org_id}/members/{user_id} exist, so that the Location
// of every create can be followed and every ETag can be read back.
func (h identityRoutes) mountOrganizations(authed *mux.Router, inOrg func(http.Handler) http.Handler) {
	authed.Handle("/organizations/me", Accepts(h.myOrganizations)).Methods(http.MethodGet)
	authed.Handle("/organizations", Idempotent(h.Idempotency)(Accepts(h.createOrganization))).Methods(http.MethodPost)

	// org declares the query parameters each handler reads (Accepts).
	org := func(f HandlerFunc, params ...string) http.Handler { return inOrg(Accepts(f, params...)) }
	authed.Handle("/organizations/{org_id}", org(h.getOrganization)).Methods(http.MethodGet)
	authed.Handle("/organizations/{org_id}", org(h.renameOrganization)).Methods(http.MethodPatch)
	authed.Handle("/organizations/{org_id}", org(h.deleteOrganization)).Methods(http.MethodDelete)
	authed.Handle("/organizations/{org_id}/transfer-ownership", org(h.transferOwnership)).Methods(http.MethodPost)
	authed.Handle("/organizations/{org_id}/members", org(h.listMembers, listParams()...)).Methods(http.MethodGet)
	authed.Handle("/organizations/{org_id}/members", org(h.addMember)).Methods(http.MethodPost)
	authed.Handle("/organizations/{org_id}/members/{user_id}", org(h.getMember)).Methods(http.MethodGet)
	authed.Handle("/organizations/{org_id}/members/{user_id}", org(h.changeMemberRole)).Methods(http.MethodPatch)
	authed.Handle("/organizations/{org_id}/members/{user_id}", org(h.removeMember)).Methods(http.MethodDelete)
}

// organizationView is an organization as a command left it, seen by a
// member of role.
func organizationView(o aggregates.Organization, role crm.Role) identity.Organization {
	return identity.Organization{ID: o.ID, Name: o.Name, Role: role, Version: o.Version, CreatedAt: readapi.NewTime(o.CreatedAt)}
}

// organizationReply answers with an organization and its ETag.
func organizationReply(status int) func(commands.OrganizationResult) Reply {
	return func(res commands.OrganizationResult) Reply {
		rp := Reply{Status: status, Version: res.Organization.Version, Body: organizationView(res.Organization, res.Role)}
		if status == http.StatusCreated {
			rp.Location = BasePath + "/organizations/" + res.Organization.ID.String()
		}
		return rp
	}
}

// memberView is a member as a command left them.
func memberView(m commands.MemberResult) identity.Member {
	return identity.Member{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, JoinedAt: readapi.NewTime(m.JoinedAt)}
}

// memberReply answers with a member; the ETag is the organization's
// version, which If-Match on a member compares against.
func memberReply(status int) func(commands.MemberResult) Reply {
	return func(m commands.MemberResult) Reply {
		rp := Reply{Status: status, Version: m.Version, Body: memberView(m)}
		if status == http.StatusCreated {
			rp.Location = BasePath + "/organizations/" + m.OrganizationID.String() + "/members/" + m.UserID.String()
		}
		return rp
	}
}

// setEventPosition sends X-Event-Position for a command that appended.
func setEventPosition(w http.ResponseWriter, res commands.Result) {
	if res.Position > 0 {
		w.Header().Set("X-Event-Position", strconv.FormatInt(res.Position, 10))
	}
}

// etag is the ETag of a version.
func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// myOrganizations lists the caller's live organizations with their role.
func (h identityRoutes) myOrganizations(w http.ResponseWriter, r *http.Request) error {
	actor, err := crm.ActorFrom(r.Context())
	if err != nil {
		return err
	}
	orgs, err := h.Queries.MyOrganizations(r.Context(), actor.UserID)
	if err != nil {
		return err
	}
	if orgs == nil {
		orgs = []identity.Organization{}
	}
	return WriteJSON(w, http.StatusOK, struct {
		Items []identity.Organization `json:"items"`
	}{orgs})
}

type nameBody struct {
	Name *string `json:"name"`
}

// name returns the body's name; an absent or null one is a 400.
func (b nameBody) name() (string, error) {
	if b.Name == nil {
		return "", crm.Invalid(crm.FieldError{Field: "name", Message: "is required"})
	}
	return *b.Name, nil
}

// createOrganization creates an organization owned by the caller.
func (h identityRoutes) createOrganization(w http.ResponseWriter, r *http.Request) error {
	var b nameBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	name, err := b.name()
	if err != nil {
		return err
	}
	ctx, send := Respond(r, organizationReply(http.StatusCreated))
	res, err := h.Commands.CreateOrganization(ctx, name)
	if err != nil {
		return err
	}
	return send(w, res, res.Result)
}

// getOrganization answers the path's organization as the caller sees it.
func (h identityRoutes) getOrganization(w http.ResponseWriter, r *http.Request) error {
	t, err := crm.TenantFrom(r.Context())
	if err != nil {
		return err
	}
	actor, err := crm.ActorFrom(r.Context())
	if err != nil {
		return err
	}
	o, err := h.Queries.Organization(r.Context(), t.OrgID, actor.UserID)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(o.Version))
	return WriteJSON(w, http.StatusOK, o)
}

// renameOrganization renames the path's organization (owner, admin).
func (h identityRoutes) renameOrganization(w http.ResponseWriter, r *http.Request) error {
	refused := h.refused(r, func(c aggregates.Caller, o *aggregates.Organization) error { return o.MayRename(c) })
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return refused(err)
	}
	var b nameBody
	if err := Decode(r, &b); err != nil {
		return refused(err)
	}
	name, err := b.name()
	if err != nil {
		return refused(err)
	}
	ctx, send := Respond(r, organizationReply(http.StatusOK))
	res, err := h.Commands.RenameOrganization(ctx, name, ifMatch)
	if err != nil {
		return err
	}
	return send(w, res, res.Result)
}

// deleteOrganization deletes the path's organization (owner).
func (h identityRoutes) deleteOrganization(w http.ResponseWriter, r *http.Request) error {
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return h.refused(r, func(c aggregates.Caller, o *aggregates.Organization) error { return o.MayDelete(c) })(err)
	}
	res, err := h.Commands.DeleteOrganization(r.Context(), ifMatch)
	if err != nil {
		return err
	}
	setEventPosition(w, res)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type transferBody struct {
	UserID *string `json:"user_id"`
}

// transferOwnership makes a member the owner (owner only); the answer is
// the organization with the caller's new role, admin.
func (h identityRoutes) transferOwnership(w http.ResponseWriter, r *http.Request) error {
	refused := h.refused(r, func(c aggregates.Caller, o *aggregates.Organization) error { return o.MayTransferOwnership(c) })
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return refused(err)
	}
	var b transferBody
	if err := Decode(r, &b); err != nil {
		return refused(err)
	}
	to, err := bodyUUID("user_id", b.UserID)
	if err != nil {
		return refused(err)
	}
	if to == nil {
		return refused(crm.Invalid(crm.FieldError{Field: "user_id", Message: "is required"}))
	}
	ctx, send := Respond(r, organizationReply(http.StatusOK))
	res, err := h.Commands.TransferOwnership(ctx, *to, ifMatch)
	if err != nil {
		return err
	}
	return send(w, res, res.Result)
}

// listMembers answers one page of the path organization's members.
func (h identityRoutes) listMembers(w http.ResponseWriter, r *http.Request) error {
	t, err := crm.TenantFrom(r.Context())
	if err != nil {
		return err
	}
	page, size, err := Paging(r)
	if err != nil {
		return err
	}
	list, err := h.Queries.Members(r.Context(), t.OrgID, page, size)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, list)
}

// getMember answers one member of the path's organization, or 404
// USER_NOT_FOUND.
func (h identityRoutes) getMember(w http.ResponseWriter, r *http.Request) error {
	t, err := crm.TenantFrom(r.Context())
	if err != nil {
		return err
	}
	user, err := PathUUID(r, "user_id")
	if err != nil {
		return err
	}
	m, err := h.Queries.Member(r.Context(), t.OrgID, user)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(m.Version))
	return WriteJSON(w, http.StatusOK, m)
}

type addMemberBody struct {
	Email  *string `json:"email"`
	UserID *string `json:"user_id"`
	Role   string  `json:"role"`
}

// addMember adds a registered user, by e-mail or user id, with a role.
func (h identityRoutes) addMember(w http.ResponseWriter, r *http.Request) error {
	refused := h.refused(r, func(c aggregates.Caller, o *aggregates.Organization) error { return o.MayManageMembers(c) })
	var b addMemberBody
	if err := Decode(r, &b); err != nil {
		return refused(err)
	}
	user, err := bodyUUID("user_id", b.UserID)
	if err != nil {
		return refused(err)
	}
	ctx, send := Respond(r, memberReply(http.StatusCreated))
	res, err := h.Commands.AddMember(ctx, commands.AddMemberInput{Email: b.Email, UserID: user, Role: b.Role})
	if err != nil {
		return err
	}
	return send(w, res, res.Result)
}

type roleBody struct {
	Role string `json:"role"`
}

// changeMemberRole gives a member another role (owner, admin).
func (h identityRoutes) changeMemberRole(w http.ResponseWriter, r *http.Request) error {
	user, err := PathUUID(r, "user_id")
	if err != nil {
		return err
	}
	refused := h.refused(r, func(c aggregates.Caller, o *aggregates.Organization) error { return o.MayChangeRole(c, user) })
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return refused(err)
	}
	var b roleBody
	if err := Decode(r, &b); err != nil {
		return refused(err)
	}
	ctx, send := Respond(r, memberReply(http.StatusOK))
	res, err := h.Commands.ChangeMemberRole(ctx, user, b.Role, ifMatch)
	if err != nil {
		return err
	}
	return send(w, res, res.Result)
}

// removeMember removes a member, or lets the caller leave.
func (h identityRoutes) removeMember(w http.ResponseWriter, r *http.Request) error {
	user, err := PathUUID(r, "user_id")
	if err != nil {
		return err
	}
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return h.refused(r, func(c aggregates.Caller, o *aggregates.Organization) error { return o.MayRemoveMember(c, user) })(err)
	}
	res, err := h.Commands.RemoveMember(r.Context(), user, ifMatch)
	if err != nil {
		return err
	}
	setEventPosition(w, res)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// refused returns what the route answers for a request refused before
// its command could decide (a body or If-Match it cannot use: a 400):
// the organization's 403 or 404 when check, the command's own first
// checks, finds one, as API.md orders them; else the 400
// (commands.RefusedRequest).
func (h identityRoutes) refused(r *http.Request, check func(aggregates.Caller, *aggregates.Organization) error) func(error) error {
	return func(err error) error { return h.Commands.RefusedRequest(r.Context(), check, err) }
}

// bodyUUID parses an optional UUID field of a body; a malformed one is a
// 400 naming it.
func bodyUUID(field string, s *string) (*uuid.UUID, error) {
	if s == nil {
		return nil, nil
	}
	id, ok := parseUUID(*s)
	if !ok {
		return nil, crm.Invalid(crm.FieldError{Field: field, Message: "must be a UUID"})
	}
	return &id, nil
}
