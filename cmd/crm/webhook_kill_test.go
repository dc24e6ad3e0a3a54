package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
)

// hookLog is a webhook receiver that records what it is sent and can be
// made to hang on a delivery, so the server dies in the middle of it.
type hookLog struct {
	mu   sync.Mutex
	got  []delivered
	hang chan struct{} // while open, delivery number hangAt hangs
	at   int
	hung chan string // the webhook-id of the delivery that hangs
}

// delivered is one delivery as received.
type delivered struct {
	id      string // webhook-id
	stream  string
	version int
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p struct {
		Data struct {
			StreamID string `json:"stream_id"`
			Version  int    `json:"version"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &p)
	h.mu.Lock()
	n := len(h.got) + 1
	h.mu.Unlock()
	if n == h.at {
		select {
		case <-h.hang:
		default:
			h.hung <- r.Header.Get("webhook-id")
			select { // until the server dies, or the test lets go
			case <-h.hang:
			case <-r.Context().Done():
				return
			}
		}
	}
	h.mu.Lock()
	h.got = append(h.got, delivered{id: r.Header.Get("webhook-id"), stream: p.Data.StreamID, version: p.Data.Version})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookLog) deliveries() []delivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivered(nil), h.got...)
}

// SIGKILL of the server in the middle of a webhook delivery loses
// nothing: after a restart every deal event of the organization reaches
// the receiver, each stream's in version order (at least once: the one
// cut off comes again with the same webhook-id).
func TestWebhookDeliveryKilledMidRequestLosesNothing(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	env := serverEnv("DATABASE_URL", dsn, "HTTP_ADDR", freeAddr(t), "WEBHOOK_ALLOW_PRIVATE", "true")
	hooks := &hookLog{hang: make(chan struct{}), at: 3, hung: make(chan string, 1)}
	receiver := httptest.NewServer(hooks)
	defer receiver.Close()

	crm := startCRM(t, env)
	owner := register(t, crm.URL)
	owner.must(t, http.StatusCreated, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": receiver.URL + "/hook", "event_types": []string{"deal.*"}})
	contact := owner.must(t, http.StatusCreated, http.MethodPost, "/api/v1/contacts", map[string]any{"name": "Ada"})["id"].(string)
	dealEvents := func(c *client, n int) {
		for i := range n {
			deal := c.must(t, http.StatusCreated, http.MethodPost, "/api/v1/deals",
				map[string]any{"contact_id": contact, "title": fmt.Sprint("deal ", i), "amount": "10.00", "currency": "USD"})["id"].(string)
			c.must(t, http.StatusOK, http.MethodPatch, "/api/v1/deals/"+deal, map[string]any{"stage": "proposal"})
		}
	}
	dealEvents(owner, 2) // four deal events: the third delivery hangs

	var cut string
	select {
	case cut = <-hooks.hung:
	case <-time.After(time.Minute):
		t.Fatal("the third delivery never arrived")
	}
	crm.kill()
	// The dead process's lease on the subscription lapses after its TTL
	// (60 s); let it lapse now rather than wait.
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `UPDATE webhook_subscriptions SET lease_until = now()`); err != nil {
		t.Fatal(err)
	}
	close(hooks.hang)

	crm = startCRM(t, env)
	owner = owner.at(crm.URL)
	dealEvents(owner, 1)

	// Every deal event of the log, by stream, in version order.
	want := map[string][]int{}
	rows, err := pool.Query(context.Background(), `SELECT stream_id::text, version FROM events WHERE stream_type = 'deal' ORDER BY stream_id, version`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for rows.Next() {
		var s string
		var v int
		if err := rows.Scan(&s, &v); err != nil {
			t.Fatal(err)
		}
		want[s] = append(want[s], v)
		total++
	}
	rows.Close()
	waitFor(t, "every deal event delivered after the restart", time.Minute, func() bool {
		ids := map[string]bool{}
		for _, d := range hooks.deliveries() {
			ids[d.id] = true
		}
		return len(ids) == total
	})
	got := hooks.deliveries()
	t.Logf("%d deal events, %d deliveries; the kill cut off %s", total, len(got), cut)
	byStream := map[string][]int{}
	again := 0
	for _, d := range got {
		vs := byStream[d.stream]
		if n := len(vs); n > 0 && vs[n-1] == d.version {
			continue // a redelivery of the same event
		}
		byStream[d.stream] = append(vs, d.version)
		if d.id == cut {
			again++
		}
	}
	for s, vs := range want {
		if fmt.Sprint(byStream[s]) != fmt.Sprint(vs) {
			t.Errorf("deal %s: delivered versions %v, want %v", s, byStream[s], vs)
		}
	}
	if again != 1 {
		t.Errorf("the delivery cut off by the kill (%s) arrived %d times as a new event, want once", cut, again)
	}
}
