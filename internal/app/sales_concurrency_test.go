package app_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"example.com/crm/internal/apitest"
)

// Deleting a contact and creating a deal for it race: whatever the timing,
// never both succeed.
func TestDeleteContactRacesCreateDeal(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	for i := range 25 {
		contact := newContact(t, s, u, nil)
		var del, create *apitest.Response
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			del = s.As(u, apitest.Request{Method: http.MethodDelete, Path: "/api/v1/contacts/" + contact})
		}()
		go func() {
			defer wg.Done()
			create = s.As(u, post("/deals", obj{"contact_id": contact, "title": "Race", "amount": 1, "currency": "USD"}))
		}()
		wg.Wait()
		delOK, createOK := del.Status == http.StatusNoContent, create.Status == http.StatusCreated
		if delOK == createOK {
			t.Fatalf("round %d: delete %d %s, create %d %s: exactly one must win", i, del.Status, del.Body, create.Status, create.Body)
		}
		if !delOK && del.Code() != "CONTACT_HAS_DEALS" {
			t.Fatalf("round %d: delete lost with %d %s", i, del.Status, del.Body)
		}
		if !createOK && create.Code() != "CONTACT_NOT_FOUND" {
			t.Fatalf("round %d: create lost with %d %s", i, create.Status, create.Body)
		}
	}
}

func TestConcurrentPatchesWithOneIfMatchExactlyOneWins(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	deal := newDeal(t, s, u, newContact(t, s, u, nil), nil)
	results := concurrently(8, func(i int) *apitest.Response {
		return s.As(u, header(patch("/deals/"+deal, obj{"title": fmt.Sprintf("title %d", i)}), "If-Match", `"1"`))
	})
	wins := 0
	for _, r := range results {
		switch r.Status {
		case http.StatusOK:
			wins++
		case http.StatusPreconditionFailed:
			if r.Code() != "VERSION_MISMATCH" {
				t.Fatalf("412 with code %s", r.Code())
			}
		default:
			t.Fatalf("unexpected %d %s", r.Status, r.Body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d PATCHes with the same If-Match won, want 1", wins)
	}
}

func TestConcurrentPatchesWithoutIfMatchAllSucceedAndAreRecorded(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	deal := newDeal(t, s, u, newContact(t, s, u, nil), nil)
	results := concurrently(8, func(i int) *apitest.Response {
		return s.As(u, patch("/deals/"+deal, obj{"title": fmt.Sprintf("title %d", i)}))
	})
	for _, r := range results {
		expect(t, r, http.StatusOK)
	}
	r := s.As(u, get("/deals/"+deal+"/history"))
	expect(t, r, http.StatusOK)
	if total := r.JSON(t)["total"]; total != float64(9) {
		t.Fatalf("history has %v events, want 1 + 8 updates", total)
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	body := obj{"name": "Once"}
	first := s.As(u, header(post("/contacts", body), "Idempotency-Key", "create-once-1"))
	expect(t, first, http.StatusCreated)
	again := s.As(u, header(post("/contacts", body), "Idempotency-Key", "create-once-1"))
	expect(t, again, http.StatusCreated)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay differs: %s / %s (%v)", first.Body, again.Body, again.Header)
	}
	expect(t, s.As(u, header(post("/contacts", obj{"name": "Other"}), "Idempotency-Key", "create-once-1")), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")

	// concurrent duplicates: one effect
	results := concurrently(6, func(int) *apitest.Response {
		return s.As(u, header(post("/contacts", obj{"name": "Dup"}), "Idempotency-Key", "dup-key"))
	})
	ids := map[string]bool{}
	for _, r := range results {
		switch r.Status {
		case http.StatusCreated:
			ids[r.JSON(t)["id"].(string)] = true
		case http.StatusConflict:
			if r.Code() != "IDEMPOTENCY_KEY_IN_FLIGHT" {
				t.Fatalf("409 %s", r.Body)
			}
		default:
			t.Fatalf("unexpected %d %s", r.Status, r.Body)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("concurrent duplicates created %d contacts", len(ids))
	}
	r := s.As(u, get("/contacts?search=Dup"))
	if r.JSON(t)["total"] != float64(1) {
		t.Fatalf("contacts named Dup: %s", r.Body)
	}
}

// Read-your-writes without sleeps: every acknowledged command is in the
// very next list.
func TestListsReadTheirWrites(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	for i := range 30 {
		deal := newDeal(t, s, u, contact, obj{"title": fmt.Sprintf("deal %d", i)})
		r := s.As(u, get("/deals?page_size=1"))
		expect(t, r, http.StatusOK)
		body := r.JSON(t)
		if body["total"] != float64(i+1) || body["items"].([]any)[0].(obj)["id"] != deal {
			t.Fatalf("round %d: list does not show the new deal first: %s", i, r.Body)
		}
		expect(t, s.As(u, patch("/deals/"+deal, obj{"stage": "negotiation"})), http.StatusOK)
		r = s.As(u, get("/deals?stage=negotiation"))
		if r.JSON(t)["total"] != float64(i+1) {
			t.Fatalf("round %d: stage change not visible: %s", i, r.Body)
		}
	}
}

func concurrently(n int, f func(i int) *apitest.Response) []*apitest.Response {
	out := make([]*apitest.Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}
