package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/apitest"
	"example.com/crm/readapi"
)

func TestDealLifecycleAndRules(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	contact := newContact(t, s, tm.Owner, nil)

	r := s.As(tm.Manager, post("/deals", obj{"contact_id": contact, "title": "Pilot", "amount": 1200.5, "currency": "eur"}))
	expect(t, r, http.StatusCreated)
	d := r.JSON(t)
	id := d["id"].(string)
	if d["amount"] != "1200.50" || d["currency"] != "EUR" || d["status"] != "new" || d["stage"] != "qualification" || d["closed_at"] != nil || d["owner_id"] != tm.Manager.ID {
		t.Fatalf("new deal: %s", r.Body)
	}

	// Rule 1: forward for everyone (skipping allowed), backwards only owner/admin.
	expect(t, s.As(tm.Manager, patch("/deals/"+id, obj{"stage": "negotiation"})), http.StatusOK)
	expect(t, s.As(tm.Manager, patch("/deals/"+id, obj{"stage": "proposal"})), http.StatusForbidden, "STAGE_ROLLBACK_FORBIDDEN")
	expect(t, s.As(tm.Admin, patch("/deals/"+id, obj{"stage": "proposal"})), http.StatusOK)

	// Rule 2: never won with amount ≤ 0, whichever fields the PATCH sets.
	expect(t, s.As(tm.Manager, patch("/deals/"+id, obj{"status": "won", "amount": 0})), http.StatusBadRequest, "WON_REQUIRES_POSITIVE_AMOUNT")

	// Rule 3: closed_at set when won/lost, cleared when leaving.
	r = s.As(tm.Manager, patch("/deals/"+id, obj{"status": "won"}))
	expect(t, r, http.StatusOK)
	won := r.JSON(t)
	if won["closed_at"] == nil {
		t.Fatalf("won deal has no closed_at: %s", r.Body)
	}
	expect(t, s.As(tm.Manager, patch("/deals/"+id, obj{"amount": "0"})), http.StatusBadRequest, "WON_REQUIRES_POSITIVE_AMOUNT")
	r = s.As(tm.Manager, patch("/deals/"+id, obj{"status": "in_progress"}))
	expect(t, r, http.StatusOK)
	changedAt := r.Header.Get("X-Event-Position")
	if r.JSON(t)["closed_at"] != nil {
		t.Fatalf("closed_at not cleared: %s", r.Body)
	}

	// Rule 5: a PATCH that changes nothing appends nothing.
	before := s.As(tm.Manager, get("/deals/"+id)).JSON(t)
	r = s.As(tm.Manager, patch("/deals/"+id, obj{"title": "Pilot", "stage": before["stage"]}))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["version"] != before["version"] {
		t.Fatalf("no-op patch moved the version: %v → %s", before["version"], r.Body)
	}
	// Like every command's answer it carries X-Event-Position: that of
	// the deal's last event, which the state it answers with reflects.
	if got := r.Header.Get("X-Event-Position"); got != changedAt || got == "" {
		t.Fatalf("no-op patch's X-Event-Position %q, want the last change's %q", got, changedAt)
	}

	// Rule 6: updated_at moves with every change.
	time.Sleep(2 * time.Millisecond)
	r = s.As(tm.Manager, patch("/deals/"+id, obj{"title": "Pilot 2"}))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["updated_at"] == before["updated_at"] {
		t.Fatalf("updated_at did not move: %s", r.Body)
	}

	// Rule 4: contact_id must be a live contact of the organization.
	other := s.Register(t)
	foreign := newContact(t, s, other, nil)
	expect(t, s.As(tm.Manager, patch("/deals/"+id, obj{"contact_id": foreign})), http.StatusNotFound, "CONTACT_NOT_FOUND")
	expect(t, s.As(tm.Manager, post("/deals", obj{"contact_id": foreign, "title": "X", "amount": 1, "currency": "USD"})), http.StatusNotFound, "CONTACT_NOT_FOUND")

	// Rule 7: the history holds the events, oldest first.
	r = s.As(tm.Member, get("/deals/"+id+"/history"))
	expect(t, r, http.StatusOK)
	var hist struct {
		Items []struct {
			Type    string `json:"type"`
			Version int    `json:"version"`
			ActorID string `json:"actor_id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	r.Decode(t, &hist)
	if hist.Items[0].Type != "deal.created" || hist.Items[0].Version != 1 || hist.Items[0].ActorID != tm.Manager.ID {
		t.Fatalf("history starts with %+v", hist.Items[0])
	}
	seen := map[string]bool{}
	for _, e := range hist.Items {
		seen[e.Type] = true
	}
	for _, want := range []string{"deal.stage_changed", "deal.status_changed", "deal.updated"} {
		if !seen[want] {
			t.Fatalf("history lacks %s: %s", want, r.Body)
		}
	}

	// Delete: leaves lists; history stays for owner/admin only.
	expect(t, s.As(tm.Manager, del("/deals/"+id)), http.StatusNoContent)
	expect(t, s.As(tm.Manager, get("/deals/"+id)), http.StatusNotFound, "DEAL_NOT_FOUND")
	expect(t, s.As(tm.Admin, get("/deals/"+id+"/history")), http.StatusOK)
	expect(t, s.As(tm.Manager, get("/deals/"+id+"/history")), http.StatusForbidden)
	if r := s.As(tm.Owner, get("/deals")); r.JSON(t)["total"] != float64(0) {
		t.Fatalf("deleted deal still listed: %s", r.Body)
	}
}

func TestDealRoles(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	contact := newContact(t, s, tm.Owner, nil)
	for _, role := range []string{"owner", "admin", "manager", "member"} {
		t.Run(role, func(t *testing.T) {
			s := s.With(t)
			u := tm.ByRole(role)
			mayManage := role != "member"
			theirs := newDeal(t, s, tm.Owner, contact, nil)
			own := newDeal(t, s, u, contact, nil)

			r := s.As(u, post("/deals", obj{"contact_id": contact, "title": "For owner", "amount": 1, "currency": "USD", "owner_id": tm.Owner.ID}))
			wantStatus(t, r, mayManage, http.StatusCreated)
			wantStatus(t, s.As(u, patch("/deals/"+theirs, obj{"title": "T"})), mayManage, http.StatusOK)
			wantStatus(t, s.As(u, patch("/deals/"+own, obj{"owner_id": tm.Owner.ID})), mayManage, http.StatusOK)
			if !mayManage {
				expect(t, s.As(u, patch("/deals/"+own, obj{"stage": "proposal"})), http.StatusOK)
			}
			// backwards: owner/admin only
			expect(t, s.As(tm.Owner, patch("/deals/"+theirs, obj{"stage": "closed"})), http.StatusOK)
			r = s.As(u, patch("/deals/"+theirs, obj{"stage": "qualification"}))
			switch role {
			case "owner", "admin":
				expect(t, r, http.StatusOK)
			case "manager":
				expect(t, r, http.StatusForbidden, "STAGE_ROLLBACK_FORBIDDEN")
			default:
				expect(t, r, http.StatusForbidden)
			}
			wantStatus(t, s.As(u, del("/deals/"+theirs)), mayManage, http.StatusNoContent)
			// comment: everyone
			expect(t, s.As(u, post("/deals/"+own+"/activities", obj{"type": "comment", "payload": obj{"text": "hi"}})), http.StatusCreated)
		})
	}
}

// wantStatus expects ok when allowed, else 403 FORBIDDEN.
func wantStatus(t testing.TB, r *apitest.Response, allowed bool, ok int) {
	t.Helper()
	if allowed {
		expect(t, r, ok)
	} else {
		expect(t, r, http.StatusForbidden, "FORBIDDEN")
	}
}

func TestContactWithDealsCannotBeDeleted(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	deal := newDeal(t, s, u, contact, nil)
	expect(t, s.As(u, patch("/deals/"+deal, obj{"status": "lost"})), http.StatusOK)
	expect(t, s.As(u, del("/contacts/"+contact)), http.StatusConflict, "CONTACT_HAS_DEALS")

	// moving the deal to another contact frees the first one
	other := newContact(t, s, u, obj{"name": "Other"})
	expect(t, s.As(u, patch("/deals/"+deal, obj{"contact_id": other})), http.StatusOK)
	expect(t, s.As(u, del("/contacts/"+contact)), http.StatusNoContent)
	expect(t, s.As(u, del("/contacts/"+other)), http.StatusConflict, "CONTACT_HAS_DEALS")
	expect(t, s.As(u, del("/deals/"+deal)), http.StatusNoContent)
	expect(t, s.As(u, del("/contacts/"+other)), http.StatusNoContent)
	// a deal cannot be created for a deleted contact
	expect(t, s.As(u, post("/deals", obj{"contact_id": other, "title": "X", "amount": 1, "currency": "USD"})), http.StatusNotFound, "CONTACT_NOT_FOUND")
}

func TestDealValidation(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	tests := []struct {
		name string
		body obj
	}{
		{"three decimals", obj{"amount": "1.001"}},
		{"negative", obj{"amount": -1}},
		{"too large", obj{"amount": "1000000000000.00"}},
		{"amount not a number", obj{"amount": "ten"}},
		{"unknown currency", obj{"currency": "XYZ"}},
		{"empty title", obj{"title": ""}},
		{"no contact", obj{"contact_id": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := obj{"contact_id": contact, "title": "T", "amount": "1.00", "currency": "USD"}
			for k, v := range tt.body {
				if v == nil {
					delete(body, k)
				} else {
					body[k] = v
				}
			}
			expect(t, s.With(t).As(u, post("/deals", body)), http.StatusBadRequest, "VALIDATION_ERROR")
		})
	}
	deal := newDeal(t, s, u, contact, nil)
	expect(t, s.As(u, patch("/deals/"+deal, obj{"status": "done"})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(u, patch("/deals/"+deal, obj{"stage": "won"})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(u, get("/deals?status=nope")), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(u, get("/deals?min_amount=abc")), http.StatusBadRequest, "VALIDATION_ERROR")
}

func TestDealListFilters(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	a := newDeal(t, s, u, contact, obj{"title": "Alpha", "amount": "10.00", "currency": "USD"})
	b := newDeal(t, s, u, contact, obj{"title": "Beta", "amount": "20.00", "currency": "EUR"})
	c := newDeal(t, s, u, contact, obj{"title": "Gamma alpha", "amount": "30.00", "currency": "USD"})
	expect(t, s.As(u, patch("/deals/"+b, obj{"status": "won"})), http.StatusOK)
	expect(t, s.As(u, patch("/deals/"+c, obj{"stage": "proposal"})), http.StatusOK)

	tests := []struct {
		query string
		want  []string
	}{
		{"?order_by=amount&order=asc", []string{a, b, c}},
		{"?status=won", []string{b}},
		{"?status=new&status=won&order_by=title&order=asc", []string{a, b, c}},
		{"?stage=proposal", []string{c}},
		{"?currency=usd&order_by=amount&order=desc", []string{c, a}},
		{"?min_amount=15&max_amount=30&order_by=amount&order=asc", []string{b, c}},
		{"?search=ALPHA&order_by=title&order=asc", []string{a, c}},
		{"?contact_id=" + contact + "&order_by=amount&order=asc", []string{a, b, c}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := s.With(t).As(u, get("/deals"+tt.query))
			expect(t, r, http.StatusOK)
			var list struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			r.Decode(t, &list)
			var got []string
			for _, it := range list.Items {
				got = append(got, it.ID)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestDealTimeTravel(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	beforeCreation := time.Now().UTC().Add(-time.Second)
	id := newDeal(t, s, u, contact, obj{"title": "v1"})
	time.Sleep(5 * time.Millisecond)
	afterV1 := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	expect(t, s.As(u, patch("/deals/"+id, obj{"title": "v2"})), http.StatusOK)
	expect(t, s.As(u, patch("/deals/"+id, obj{"stage": "proposal"})), http.StatusOK)

	r := s.As(u, get("/deals/"+id+"?version=1"))
	expect(t, r, http.StatusOK)
	if d := r.JSON(t); d["title"] != "v1" || d["as_of_version"] != float64(1) || d["version"] != float64(1) {
		t.Fatalf("version 1: %s", r.Body)
	}
	r = s.As(u, get("/deals/"+id+"?as_of="+afterV1.Format(time.RFC3339Nano)))
	expect(t, r, http.StatusOK)
	if d := r.JSON(t); d["title"] != "v1" || d["as_of_version"] != float64(1) {
		t.Fatalf("as of after v1: %s", r.Body)
	}
	r = s.As(u, get("/deals/"+id+"?version=3"))
	expect(t, r, http.StatusOK)
	if d := r.JSON(t); d["title"] != "v2" || d["stage"] != "proposal" {
		t.Fatalf("version 3: %s", r.Body)
	}
	expect(t, s.As(u, get("/deals/"+id+"?as_of="+beforeCreation.Format(time.RFC3339))), http.StatusNotFound)
	expect(t, s.As(u, get("/deals/"+id+"?version=99")), http.StatusNotFound)
	expect(t, s.As(u, get("/deals/"+id+"?version=0")), http.StatusBadRequest)
	expect(t, s.As(u, get("/deals/"+id+"?as_of=yesterday")), http.StatusBadRequest)
}

// The API writes instants to the millisecond and keeps the microsecond:
// as_of set to a timestamp the API itself gave out (the deal's
// created_at, an event's occurred_at) includes the event at that time.
func TestTimeTravelToATimestampTheAPIGaveOut(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	id := newDeal(t, s, u, contact, obj{"title": "v1"})
	expect(t, s.As(u, patch("/deals/"+id, obj{"title": "v2"})), http.StatusOK)

	r := s.As(u, get("/deals/"+id+"?version=1"))
	expect(t, r, http.StatusOK)
	created := r.JSON(t)["created_at"].(string)
	r = s.As(u, get("/deals/"+id+"?as_of="+created))
	expect(t, r, http.StatusOK)
	if d := r.JSON(t); d["title"] != "v1" || d["as_of_version"] != float64(1) {
		t.Fatalf("as of its own created_at %s: %s", created, r.Body)
	}

	r = s.As(u, get("/deals/"+id+"/history"))
	expect(t, r, http.StatusOK)
	items := r.JSON(t)["items"].([]any)
	for _, it := range items {
		ev := it.(map[string]any)
		at := ev["occurred_at"].(string)
		r := s.As(u, get("/deals/"+id+"?as_of="+at))
		expect(t, r, http.StatusOK)
		if got := r.JSON(t)["as_of_version"]; got.(float64) < ev["version"].(float64) {
			t.Errorf("as_of=%s (the occurred_at of version %v): as_of_version %v", at, ev["version"], got)
		}
	}

	// Before its millisecond, the deal did not exist yet; the detail
	// writes instants as the API does.
	c, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Add(-time.Millisecond).Format(readapi.TimeLayout)
	r = s.As(u, get("/deals/"+id+"?as_of="+before))
	expect(t, r, http.StatusNotFound, "DEAL_NOT_FOUND")
	if want := "did not exist yet at " + before + " (it was created at " + created + ")"; !strings.Contains(r.JSON(t)["detail"].(string), want) {
		t.Errorf("detail %q, want it to contain %q", r.JSON(t)["detail"], want)
	}
}
