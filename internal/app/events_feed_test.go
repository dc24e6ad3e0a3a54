package app_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/apitest"
)

// feedPage is one answer of GET /events.
type feedPage struct {
	Items []struct {
		ID         string         `json:"id"`
		Position   int64          `json:"position"`
		Type       string         `json:"type"`
		StreamType string         `json:"stream_type"`
		StreamID   string         `json:"stream_id"`
		Version    int            `json:"version"`
		Data       map[string]any `json:"data"`
		ActorID    *string        `json:"actor_id"`
		OccurredAt string         `json:"occurred_at"`
	} `json:"items"`
	Next string `json:"next"`
}

func readFeed(t *testing.T, s *apitest.Server, u apitest.User, query string) feedPage {
	t.Helper()
	r := s.As(u, get("/events?"+query))
	expect(t, r, http.StatusOK)
	var p feedPage
	r.Decode(t, &p)
	if p.Next == "" {
		t.Fatalf("no next cursor: %s", r.Body)
	}
	return p
}

func TestTheEventFeedShowsTheOrganizationsChangesInOrder(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	team := s.NewTeam(t)
	stranger := s.Register(t)
	newContact(t, s, stranger, nil) // another organization's change

	contact := newContact(t, s, team.Owner, nil)
	deal := newDeal(t, s, team.Owner, contact, nil)
	expect(t, s.As(team.Owner, patch("/deals/"+deal, obj{"stage": "proposal"})), http.StatusOK)

	p := readFeed(t, s, team.Admin, "limit=1000")
	var types []string
	for _, e := range p.Items {
		types = append(types, e.Type)
		if strings.HasPrefix(e.Type, "user.") || strings.Contains(strings.ToLower(e.ID+e.Type), "password") {
			t.Errorf("a user event or a secret in the feed: %+v", e)
		}
		if e.ActorID == nil || e.OccurredAt == "" || e.Position <= 0 {
			t.Errorf("incomplete event %+v", e)
		}
	}
	want := []string{
		"organization.created", "organization.member_added", // registration
		"organization.member_added", "organization.member_added", "organization.member_added", // the team
		"contact.created", "deal.created", "contact.deal_linked", "deal.stage_changed",
	}
	if !slices.Equal(types, want) {
		t.Fatalf("feed types %v\nwant %v", types, want)
	}
	last := p.Items[len(p.Items)-1]
	if last.StreamID != deal || last.Version != 2 || last.Data["new"] != "proposal" {
		t.Errorf("last event %+v", last)
	}

	// Filtered, and paged one at a time through the cursor.
	var deals []string
	after := ""
	for {
		p := readFeed(t, s, team.Owner, "type=deal.*&limit=1&after="+url.QueryEscape(after))
		if len(p.Items) == 0 {
			break
		}
		deals = append(deals, p.Items[0].Type)
		after = p.Next
	}
	if !slices.Equal(deals, []string{"deal.created", "deal.stage_changed"}) {
		t.Errorf("deal.* page by page: %v", deals)
	}
	// The end of the feed hands back a cursor that continues after it.
	expect(t, s.As(team.Owner, patch("/deals/"+deal, obj{"title": "Bigger deal"})), http.StatusOK)
	p = readFeed(t, s, team.Owner, "type=deal.updated&after="+url.QueryEscape(after))
	if len(p.Items) != 1 || p.Items[0].Type != "deal.updated" {
		t.Errorf("after the last cursor: %+v", p.Items)
	}
}

func TestTheEventFeedIsForOwnersAndAdminsAndChecksItsParameters(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	team := s.NewTeam(t)
	for _, role := range []string{"manager", "member"} {
		expect(t, s.As(team.ByRole(role), get("/events")), http.StatusForbidden, "FORBIDDEN")
		// The role is decided before the parameters (API.md's order of checks).
		expect(t, s.As(team.ByRole(role), get("/events?limit=0")), http.StatusForbidden, "FORBIDDEN")
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "wait=31", "wait=-1", "wait=1.5", "type=deal.creatd",
		"type=user.registered", "after=not-a-cursor", "page=2", "limit=1&limit=2"} {
		expect(t, s.As(team.Owner, get("/events?"+q)), http.StatusBadRequest, "VALIDATION_ERROR")
	}
	outsider := s.Register(t)
	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/events", Token: outsider.Token, Org: team.Owner.Org})
	if r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("a non-member reading the feed: %d %s", r.Status, r.Body)
	}
}

func TestTheEventFeedLongPollsUntilAnEventArrives(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	end := readFeed(t, s, u, "limit=1000").Next

	start := time.Now()
	empty := readFeed(t, s, u, "wait=1&after="+url.QueryEscape(end))
	if len(empty.Items) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("an empty long poll returned %d items after %s, want none after about 1 s", len(empty.Items), time.Since(start))
	}

	got := make(chan feedPage, 1)
	go func() {
		r := s.As(u, get("/events?wait=30s&after="+url.QueryEscape(end)))
		var p feedPage
		if r.Status == http.StatusOK {
			r.Decode(t, &p)
		}
		got <- p
	}()
	time.Sleep(100 * time.Millisecond)
	newContact(t, s, u, nil)
	select {
	case p := <-got:
		if len(p.Items) != 1 || p.Items[0].Type != "contact.created" {
			t.Errorf("the long poll woke with %+v", p.Items)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the long poll did not return when the contact was created")
	}
}
