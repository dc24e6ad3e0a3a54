package apitest

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
)

// User is a registered user with a fresh access token, and the
// organization registration created for them.
type User struct {
	ID    string
	Email string
	Token string
	// Refresh is the refresh token of registration.
	Refresh string
	// Org is the organization the user owns since registration.
	Org string
}

var seq atomic.Int64

// Register creates a user (and their organization) with a unique e-mail.
func (s *Server) Register(t testing.TB) User {
	t.Helper()
	n := seq.Add(1)
	email := fmt.Sprintf("user%d-%p@example.com", n, t)
	r := s.Do(Request{Method: http.MethodPost, Path: "/api/v1/auth/register", Body: map[string]any{
		"email": email, "password": "correct horse battery", "name": fmt.Sprintf("User %d", n),
		"organization_name": fmt.Sprintf("Org %d", n),
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		User         struct {
			ID string `json:"id"`
		} `json:"user"`
		Organization struct {
			ID string `json:"id"`
		} `json:"organization"`
	}
	r.Decode(t, &body)
	return User{ID: body.User.ID, Email: email, Token: body.AccessToken, Refresh: body.RefreshToken, Org: body.Organization.ID}
}

// Member registers a new user and adds them to owner's organization with
// role (admin, manager or member). The returned User's Org is that
// organization.
func (s *Server) Member(t testing.TB, owner User, role string) User {
	t.Helper()
	u := s.Register(t)
	r := s.Do(Request{Method: http.MethodPost, Path: "/api/v1/organizations/" + owner.Org + "/members",
		Token: owner.Token, Body: map[string]any{"email": u.Email, "role": role}})
	if r.Status != http.StatusCreated {
		t.Fatalf("add member: %d %s", r.Status, r.Body)
	}
	u.Org = owner.Org
	return u
}

// As sends req as user u in u's organization.
func (s *Server) As(u User, req Request) *Response {
	s.t.Helper()
	req.Token = u.Token
	if req.Org == "" {
		req.Org = u.Org
	}
	return s.Do(req)
}

// Team is an organization with one user of each role.
type Team struct {
	Owner, Admin, Manager, Member User
}

// NewTeam registers an owner and adds an admin, a manager and a member.
func (s *Server) NewTeam(t testing.TB) Team {
	t.Helper()
	owner := s.Register(t)
	return Team{
		Owner:   owner,
		Admin:   s.Member(t, owner, "admin"),
		Manager: s.Member(t, owner, "manager"),
		Member:  s.Member(t, owner, "member"),
	}
}

// ByRole returns the team's user of a role.
func (tm Team) ByRole(role string) User {
	switch role {
	case "owner":
		return tm.Owner
	case "admin":
		return tm.Admin
	case "manager":
		return tm.Manager
	}
	return tm.Member
}
