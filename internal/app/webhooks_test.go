package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"example.com/crm/internal/apitest"
	"example.com/crm/internal/app"
	"example.com/crm/webhooks"
)

// hook is one request a receiver got.
type hook struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Event                    struct {
		Type string `json:"type"`
		Data struct {
			ID       string          `json:"id"`
			Type     string          `json:"type"`
			StreamID string          `json:"stream_id"`
			Version  int             `json:"version"`
			Data     json.RawMessage `json:"data"`
		} `json:"data"`
	}
}

// receiver is a webhook endpoint on loopback. answer decides each
// request's status (n counts from 1); nil answers 204.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []hook
	answer func(n int, r *http.Request) int
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hook{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
			Signature: r.Header.Get("webhook-signature"), Body: body}
		_ = json.Unmarshal(body, &h.Event)
		rc.mu.Lock()
		rc.got = append(rc.got, h)
		n := len(rc.got)
		rc.mu.Unlock()
		status := http.StatusNoContent
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) hooks() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.got...)
}

// waitFor polls cond (generously bounded) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifySignature is the Standard Webhooks verification, written from
// the specification (not with package webhooks): HMAC-SHA256 keyed by the
// base64-decoded secret after "whsec_", over "id.timestamp.body", any of
// the space-separated "v1,<base64>" entries.
func verifySignature(secret string, h hook) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.ID + "." + h.Timestamp + "." + string(h.Body)))
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(h.Signature) {
		version, sig, _ := strings.Cut(entry, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if version == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// webhookServer runs a server that may deliver to loopback, retrying
// fast.
func webhookServer(t *testing.T, dsn string, adjust ...func(*webhooks.Config)) *apitest.Server {
	t.Helper()
	opts := []app.Option{app.WithWebhooks(func(c *webhooks.Config) { c.RetryBase = 20 * time.Millisecond; c.FallbackPoll = 100 * time.Millisecond })}
	for _, a := range adjust {
		opts = append(opts, app.WithWebhooks(a))
	}
	return apitest.Start(t, apitest.Options{DatabaseURL: dsn, Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}, AppOptions: opts})
}

// subscribe creates a webhook as u and returns its id and secret.
func subscribe(t *testing.T, s *apitest.Server, u apitest.User, url string, types ...string) (string, string) {
	t.Helper()
	r := s.As(u, post("/webhooks", obj{"url": url, "event_types": types}))
	expect(t, r, http.StatusCreated)
	b := r.JSON(t)
	return b["id"].(string), b["secret"].(string)
}

// dealEvents makes n deals of u's organization move through stages and
// returns every deal's id.
func dealEvents(t *testing.T, s *apitest.Server, u apitest.User, n int) []string {
	t.Helper()
	contact := newContact(t, s, u, nil)
	var ids []string
	for range n {
		id := newDeal(t, s, u, contact, nil)
		for _, stage := range []string{"proposal", "negotiation"} {
			expect(t, s.As(u, patch("/deals/"+id, obj{"stage": stage})), http.StatusOK)
		}
		ids = append(ids, id)
	}
	return ids
}

// dealVersions is how many events each deal's history holds.
func dealVersions(t *testing.T, s *apitest.Server, u apitest.User, ids []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, id := range ids {
		r := s.As(u, get("/deals/"+id+"/history?page_size=100"))
		expect(t, r, http.StatusOK)
		out[id] = int(r.JSON(t)["total"].(float64))
	}
	return out
}

// delivered reduces what a receiver got to the events it acknowledged
// last, checking that every stream's versions arrive in order: a
// request repeats only the request before it (a retry) or, after a
// restart, an event already seen (at-least-once), never skipping one.
func checkOrder(t *testing.T, got []hook, want map[string]int) {
	t.Helper()
	next := map[string]int{} // deal → next version expected
	for _, h := range got {
		d := h.Event.Data
		if h.ID != d.ID || h.Event.Type != d.Type {
			t.Fatalf("webhook-id %s / type %s do not match the event %s / %s", h.ID, h.Event.Type, d.ID, d.Type)
		}
		if _, ok := want[d.StreamID]; !ok {
			t.Fatalf("delivered an event of stream %s, which is no deal of this organization: %s", d.StreamID, h.Body)
		}
		if next[d.StreamID] == 0 {
			next[d.StreamID] = 1
		}
		switch {
		case d.Version == next[d.StreamID]:
			next[d.StreamID]++
		case d.Version < next[d.StreamID]:
			// a redelivery (retry or restart)
		default:
			t.Fatalf("deal %s: version %d delivered before version %d", d.StreamID, d.Version, next[d.StreamID])
		}
	}
	for id, n := range want {
		if next[id] != n+1 {
			t.Fatalf("deal %s: delivered up to version %d of %d", id, next[id]-1, n)
		}
	}
}

func TestWebhookDeliversSignedInOrderAfterFailures(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, "")
	owner := s.Register(t)
	stranger := s.Register(t)
	const failFirst = 3
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n <= failFirst {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	id, secret := subscribe(t, s, owner, rc.URL+"/hook", "deal.*")
	// The stranger's organization is busy too, and subscribes elsewhere.
	dealEvents(t, s, stranger, 2)
	deals := dealEvents(t, s, owner, 3)
	want := dealVersions(t, s, owner, deals)
	total := 0
	for _, n := range want {
		total += n
	}
	waitFor(t, "every deal event", func() bool { return len(rc.hooks()) >= total+failFirst })

	got := rc.hooks()
	for i, h := range got {
		if !verifySignature(secret, h) {
			t.Fatalf("request %d: signature %q does not verify", i, h.Signature)
		}
		if !strings.HasPrefix(h.Event.Data.Type, "deal.") {
			t.Fatalf("request %d: %s is not a deal event", i, h.Event.Data.Type)
		}
	}
	// The first event was tried failFirst+1 times with one webhook-id,
	// then every event came exactly once, in order.
	for i := 1; i <= failFirst; i++ {
		if got[i].ID != got[0].ID {
			t.Fatalf("retry %d has webhook-id %s, want %s", i, got[i].ID, got[0].ID)
		}
	}
	seen := map[string]bool{}
	for _, h := range got[failFirst:] {
		if seen[h.ID] {
			t.Fatalf("event %s delivered twice after the receiver recovered", h.ID)
		}
		seen[h.ID] = true
	}
	checkOrder(t, got, want)
	if len(got) != total+failFirst {
		t.Fatalf("%d requests, want %d", len(got), total+failFirst)
	}

	// The delivery log, newest first: the oldest took failFirst+1 attempts.
	r := s.As(owner, get("/webhooks/"+id+"/deliveries?page_size=100"))
	expect(t, r, http.StatusOK)
	var log struct {
		Items []struct {
			EventID        string  `json:"event_id"`
			Status         string  `json:"status"`
			Attempts       int     `json:"attempts"`
			LastStatusCode *int    `json:"last_status_code"`
			DeliveredAt    *string `json:"delivered_at"`
		} `json:"items"`
		Total int `json:"total"`
	}
	r.Decode(t, &log)
	if log.Total != total {
		t.Fatalf("delivery log has %d entries, want %d", log.Total, total)
	}
	oldest := log.Items[len(log.Items)-1]
	if oldest.EventID != got[0].ID || oldest.Attempts != failFirst+1 || oldest.Status != "succeeded" ||
		oldest.LastStatusCode == nil || *oldest.LastStatusCode != 200 || oldest.DeliveredAt == nil {
		t.Fatalf("oldest delivery: %+v", oldest)
	}
	for _, d := range log.Items[:len(log.Items)-1] {
		if d.Status != "succeeded" || d.Attempts != 1 {
			t.Fatalf("delivery: %+v", d)
		}
	}
}

func TestWebhookNothingLostWhenTheServerStopsMidDelivery(t *testing.T) {
	t.Parallel()
	s1 := webhookServer(t, "")
	owner := s1.Register(t)
	var blocking atomic.Bool
	blocking.Store(true)
	entered := make(chan string, 10)
	rc := newReceiver(t, func(n int, r *http.Request) int {
		if n == 3 && blocking.Load() {
			entered <- r.Header.Get("webhook-id")
			<-r.Context().Done() // the server gives up: it is stopping
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	subscribe(t, s1, owner, rc.URL+"/hook", "deal.*")
	deals := dealEvents(t, s1, owner, 2)
	var cut string
	select {
	case cut = <-entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the third delivery never arrived")
	}
	s1.App.Close() // mid-delivery
	blocking.Store(false)

	s2 := webhookServer(t, s1.DatabaseURL)
	deals = append(deals, dealEvents(t, s2, owner, 1)...)
	want := dealVersions(t, s2, owner, deals)
	waitFor(t, "every deal event after the restart", func() bool {
		ids := map[string]bool{}
		for _, h := range rc.hooks() {
			ids[h.ID] = true
		}
		n := 0
		for _, v := range want {
			n += v
		}
		return len(ids) == n
	})
	got := rc.hooks()
	checkOrder(t, got, want)
	times := 0
	for _, h := range got {
		if h.ID == cut {
			times++
		}
	}
	if times < 2 {
		t.Fatalf("the delivery cut off by the stop (%s) was sent %d times, want again after the restart", cut, times)
	}
}

func TestWebhookRefusesPrivateAddressesWithoutTheSwitch(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	// receiver.test stands for a public name whose DNS answer is the
	// loopback receiver: the deliveries' own client, with that answer
	// put in before it dials (where it checks the address).
	s := apitest.Start(t, apitest.Options{AppOptions: []app.Option{app.WithWebhooks(func(c *webhooks.Config) {
		c.Client = webhooks.NewClient(false)
		tr := c.Client.Transport.(*http.Transport)
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, p, err := net.SplitHostPort(addr); err == nil && host == "receiver.test" {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return dial(ctx, network, addr)
		}
	})}})
	owner := s.Register(t)
	// Refused when created: http, literal private addresses, localhost.
	for _, u := range []string{rc.URL + "/hook", "https://127.0.0.1:" + port + "/hook", "https://[::1]/hook", "https://169.254.169.254/latest",
		"https://localhost:" + port + "/hook", "https://api.localhost/hook"} {
		expect(t, s.As(owner, post("/webhooks", obj{"url": u, "event_types": []string{"deal.*"}})), http.StatusBadRequest, "VALIDATION_ERROR")
	}
	// Any other name is checked where it resolves, on every delivery.
	id, _ := subscribe(t, s, owner, "https://receiver.test:"+port+"/hook", "contact.*")
	newContact(t, s, owner, nil)
	var lastError string
	waitFor(t, "a refused delivery attempt", func() bool {
		r := s.As(owner, get("/webhooks/"+id+"/deliveries"))
		var l struct {
			Items []struct {
				Attempts  int     `json:"attempts"`
				Status    string  `json:"status"`
				LastError *string `json:"last_error"`
			} `json:"items"`
		}
		r.Decode(t, &l)
		if len(l.Items) == 1 && l.Items[0].Attempts >= 1 && l.Items[0].LastError != nil {
			lastError = *l.Items[0].LastError
			return l.Items[0].Status == "pending"
		}
		return false
	})
	if !strings.Contains(lastError, "non-public address") {
		t.Fatalf("last_error %q does not say the address was refused", lastError)
	}
	if n := len(rc.hooks()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
}

func TestWebhookRedirectIsAFailure(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, "", func(c *webhooks.Config) { c.RetryBase = time.Hour })
	owner := s.Register(t)
	rc := newReceiver(t, func(_ int, r *http.Request) int {
		if r.URL.Path == "/hook" {
			return http.StatusTemporaryRedirect // (no Location needed: it is never followed)
		}
		return http.StatusOK
	})
	id, _ := subscribe(t, s, owner, rc.URL+"/hook", "contact.*")
	newContact(t, s, owner, nil)
	waitFor(t, "the redirected attempt", func() bool {
		r := s.As(owner, get("/webhooks/"+id+"/deliveries"))
		return strings.Contains(string(r.Body), `"last_status_code":307`) && strings.Contains(string(r.Body), `"status":"pending"`)
	})
	if n := len(rc.hooks()); n != 1 {
		t.Fatalf("receiver got %d requests, want the one redirected", n)
	}
}

func TestWebhookRotationSignsWithBothSecrets(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, "")
	owner := s.Register(t)
	rc := newReceiver(t, nil)
	id, old := subscribe(t, s, owner, rc.URL+"/hook", "contact.created")
	r := s.As(owner, post("/webhooks/"+id+"/rotate-secret", nil))
	expect(t, r, http.StatusOK)
	rotated := r.JSON(t)["secret"].(string)
	if rotated == old || !strings.HasPrefix(rotated, "whsec_") {
		t.Fatalf("rotated secret %q", rotated)
	}
	newContact(t, s, owner, nil)
	waitFor(t, "a delivery", func() bool { return len(rc.hooks()) == 1 })
	h := rc.hooks()[0]
	if len(strings.Fields(h.Signature)) != 2 || !verifySignature(old, h) || !verifySignature(rotated, h) {
		t.Fatalf("signature %q: want one v1 entry for each secret", h.Signature)
	}
	if verifySignature(webhooks.NewSecret(), h) {
		t.Fatal("a random secret verifies")
	}
	ts, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Hour {
		t.Fatalf("webhook-timestamp %q", h.Timestamp)
	}
}

func TestWebhookDisabledAfterADayOfFailures(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64 // how far the dispatcher's clock is ahead
	s := webhookServer(t, "", func(c *webhooks.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	owner := s.Register(t)
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusInternalServerError })
	id, _ := subscribe(t, s, owner, rc.URL+"/hook", "contact.*")
	newContact(t, s, owner, nil)
	// Recorded, not only received: a failure recorded after the skew
	// would start its day of failures in the skewed time.
	waitFor(t, "a failed attempt recorded", func() bool {
		var l struct {
			Items []struct {
				Attempts int `json:"attempts"`
			} `json:"items"`
		}
		s.As(owner, get("/webhooks/"+id+"/deliveries")).Decode(t, &l)
		return len(l.Items) > 0 && l.Items[0].Attempts >= 1
	})
	skew.Store(int64(25 * time.Hour))
	waitFor(t, "the subscription disabled", func() bool {
		return s.As(owner, get("/webhooks/"+id)).JSON(t)["active"] == false
	})
	if v := s.As(owner, get("/webhooks/"+id)).JSON(t)["version"]; v != 2.0 {
		t.Fatalf("disabled, the subscription is at version %v, want 2", v)
	}
	r := s.As(owner, get("/webhooks/"+id+"/deliveries"))
	var l struct {
		Items []struct {
			Status    string `json:"status"`
			LastError string `json:"last_error"`
		} `json:"items"`
	}
	r.Decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].Status != "failed" || !strings.Contains(l.Items[0].LastError, "disabled") {
		t.Fatalf("delivery log: %s", r.Body)
	}
	// Re-enabled, it tries again.
	before := len(rc.hooks())
	expect(t, s.As(owner, patch("/webhooks/"+id, obj{"active": true})), http.StatusOK)
	waitFor(t, "an attempt after re-enabling", func() bool { return len(rc.hooks()) > before })
}

func TestWebhookReplayRedelivers(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, "")
	owner := s.Register(t)
	other := s.Register(t)
	rc := newReceiver(t, nil)
	id, _ := subscribe(t, s, owner, rc.URL+"/hook", "deal.created")
	deals := dealEvents(t, s, owner, 2)
	waitFor(t, "two deliveries", func() bool { return len(rc.hooks()) == 2 })

	expect(t, s.As(owner, post("/webhooks/"+id+"/replay", obj{"after": "not a cursor"})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(owner, post("/webhooks/"+id+"/replay", obj{"after": "", "extra": 1})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(other, post("/webhooks/"+id+"/replay", obj{})), http.StatusNotFound, "NOT_FOUND")
	expect(t, s.As(owner, post("/webhooks/"+id+"/replay", obj{})), http.StatusAccepted)
	waitFor(t, "the replay", func() bool { return len(rc.hooks()) == 4 })
	got := rc.hooks()
	for i := range 2 {
		if got[i].ID != got[i+2].ID || got[i+2].Event.Data.StreamID != deals[i] {
			t.Fatalf("replay delivered %s (%s), want %s again", got[i+2].ID, got[i+2].Event.Data.StreamID, got[i].ID)
		}
	}
}

func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	other := s.Register(t)
	const url = "https://hooks.example.com/crm"

	r := s.As(tm.Admin, post("/webhooks", obj{"url": url, "event_types": []string{"deal.*", "contact.created"}}))
	expect(t, r, http.StatusCreated)
	created := r.JSON(t)
	id := created["id"].(string)
	secret, _ := created["secret"].(string)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(raw) < 24 {
		t.Fatalf("secret %q", secret)
	}
	if r.Header.Get("Location") != "/api/v1/webhooks/"+id || created["active"] != true || created["url"] != url || created["created_at"] == nil {
		t.Fatalf("created: %s (Location %q)", r.Body, r.Header.Get("Location"))
	}

	for _, path := range []string{"/webhooks/" + id, "/webhooks"} {
		r = s.As(tm.Owner, get(path))
		expect(t, r, http.StatusOK)
		if strings.Contains(string(r.Body), "secret") || strings.Contains(string(r.Body), secret) {
			t.Fatalf("GET %s shows the secret: %s", path, r.Body)
		}
	}
	if l := s.As(tm.Owner, get("/webhooks")).JSON(t); l["total"] != 1.0 || l["page"] != 1.0 || l["page_size"] != 20.0 {
		t.Fatalf("list: %v", l)
	}

	r = s.As(tm.Owner, patch("/webhooks/"+id, obj{"active": false, "event_types": []string{"task.*"}}))
	expect(t, r, http.StatusOK)
	if b := r.JSON(t); b["active"] != false || fmt.Sprint(b["event_types"]) != "[task.*]" || b["url"] != url {
		t.Fatalf("patched: %s", r.Body)
	}

	// Validation.
	for _, body := range []obj{
		{"event_types": []string{"deal.*"}},
		{"url": "http://hooks.example.com/", "event_types": []string{"deal.*"}},
		{"url": "https://u:p@hooks.example.com/", "event_types": []string{"deal.*"}},
		{"url": "https://10.0.0.1/", "event_types": []string{"deal.*"}},
		{"url": "hooks.example.com", "event_types": []string{"deal.*"}},
		{"url": "https://hooks.example.com/" + strings.Repeat("x", 3000), "event_types": []string{"deal.*"}},
		{"url": url},
		{"url": url, "event_types": []string{}},
		{"url": url, "event_types": []string{"deal.exploded"}},
		{"url": url, "event_types": []string{"user.*"}},
		{"url": url, "event_types": []string{"deal.*"}, "secret": "mine"},
	} {
		expect(t, s.As(tm.Owner, post("/webhooks", body)), http.StatusBadRequest, "VALIDATION_ERROR")
	}
	expect(t, s.As(tm.Owner, patch("/webhooks/"+id, obj{"url": nil})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(tm.Owner, patch("/webhooks/"+id, obj{"event_types": []string{}})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(tm.Owner, get("/webhooks?page_size=101")), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(tm.Owner, get("/webhooks/not-a-uuid")), http.StatusBadRequest, "VALIDATION_ERROR")

	// Managers and members: 403 on every route; another organization: 404.
	routes := []apitest.Request{
		get("/webhooks"), post("/webhooks", obj{"url": url, "event_types": []string{"deal.*"}}),
		get("/webhooks/" + id), patch("/webhooks/"+id, obj{"active": true}), del("/webhooks/" + id),
		post("/webhooks/"+id+"/rotate-secret", nil), get("/webhooks/" + id + "/deliveries"),
		post("/webhooks/"+id+"/replay", obj{}),
	}
	for _, u := range []apitest.User{tm.Manager, tm.Member} {
		for _, req := range routes {
			expect(t, s.As(u, req), http.StatusForbidden, "FORBIDDEN")
		}
	}
	for _, req := range routes[2:] {
		expect(t, s.As(other, req), http.StatusNotFound, "NOT_FOUND")
	}
	if l := s.As(other, get("/webhooks")).JSON(t); l["total"] != 0.0 {
		t.Fatalf("another organization lists %v", l)
	}

	r = s.As(tm.Admin, post("/webhooks/"+id+"/rotate-secret", nil))
	expect(t, r, http.StatusOK)
	if s2 := r.JSON(t)["secret"]; s2 == secret || !strings.HasPrefix(fmt.Sprint(s2), "whsec_") {
		t.Fatalf("rotated: %s", r.Body)
	}
	r = s.As(tm.Owner, get("/webhooks/"+id+"/deliveries"))
	expect(t, r, http.StatusOK)
	if l := r.JSON(t); l["total"] != 0.0 {
		t.Fatalf("deliveries: %s", r.Body)
	}
	expect(t, s.As(tm.Owner, del("/webhooks/"+id)), http.StatusNoContent)
	expect(t, s.As(tm.Owner, get("/webhooks/"+id)), http.StatusNotFound, "NOT_FOUND")
	expect(t, s.As(tm.Owner, del("/webhooks/"+id)), http.StatusNotFound, "NOT_FOUND")
}

// A subscription carries a version like every entity (API.md §1): sent as
// ETag, moved by every change a client can see and by nothing else, and
// checked by If-Match on PATCH and DELETE.
func TestWebhooksCarryAVersionAndHonourIfMatch(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	versionOf := func(r *apitest.Response) string {
		t.Helper()
		v := fmt.Sprint(r.JSON(t)["version"])
		if etag := r.Header.Get("ETag"); etag != `"`+v+`"` {
			t.Fatalf("ETag %q beside version %s: %s", etag, v, r.Body)
		}
		return v
	}
	ifMatch := func(req apitest.Request, v string) apitest.Request { return header(req, "If-Match", `"`+v+`"`) }

	r := s.As(u, post("/webhooks", obj{"url": "https://hooks.example.com/v", "event_types": []string{"deal.*"}}))
	expect(t, r, http.StatusCreated)
	if v := versionOf(r); v != "1" {
		t.Fatalf("a new subscription is at version %s", v)
	}
	id := r.JSON(t)["id"].(string)
	if v := versionOf(s.As(u, get("/webhooks/"+id))); v != "1" {
		t.Fatalf("GET: version %s", v)
	}

	r = s.As(u, ifMatch(patch("/webhooks/"+id, obj{"active": false}), "1"))
	expect(t, r, http.StatusOK)
	if v := versionOf(r); v != "2" {
		t.Fatalf("after a change: version %s", v)
	}
	// A patch that changes nothing moves nothing.
	r = s.As(u, patch("/webhooks/"+id, obj{"active": false, "url": "https://hooks.example.com/v"}))
	expect(t, r, http.StatusOK)
	if v := versionOf(r); v != "2" {
		t.Fatalf("after a patch that changes nothing: version %s", v)
	}
	// A stale version is 412 and changes nothing; a malformed one is 400.
	expect(t, s.As(u, ifMatch(patch("/webhooks/"+id, obj{"active": true}), "1")), http.StatusPreconditionFailed, "VERSION_MISMATCH")
	expect(t, s.As(u, header(patch("/webhooks/"+id, obj{"active": true}), "If-Match", "bogus")), http.StatusBadRequest, "VALIDATION_ERROR")
	if b := s.As(u, get("/webhooks/"+id)).JSON(t); b["active"] != false {
		t.Fatalf("a refused patch changed the subscription: %v", b)
	}

	r = s.As(u, post("/webhooks/"+id+"/rotate-secret", nil))
	expect(t, r, http.StatusOK)
	if etag := r.Header.Get("ETag"); etag != `"3"` {
		t.Fatalf("a rotation answered ETag %q, want \"3\"", etag)
	}
	r = s.As(u, post("/webhooks/"+id+"/replay", obj{}))
	expect(t, r, http.StatusAccepted)
	if v := versionOf(r); v != "4" {
		t.Fatalf("after a replay: version %s", v)
	}

	expect(t, s.As(u, ifMatch(del("/webhooks/"+id), "3")), http.StatusPreconditionFailed, "VERSION_MISMATCH")
	expect(t, s.As(u, header(del("/webhooks/"+id), "If-Match", "bogus")), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(u, get("/webhooks/"+id)), http.StatusOK)
	expect(t, s.As(u, ifMatch(del("/webhooks/"+id), "4")), http.StatusNoContent)
	expect(t, s.As(u, ifMatch(del("/webhooks/"+id), "4")), http.StatusNotFound, "NOT_FOUND")
}

// The webhook POSTs honour Idempotency-Key like every POST (API.md §1):
// the same key and body replay the first answer (the same secret, no
// second subscription or rotation); the same key with another body is
// 422 IDEMPOTENCY_KEY_REUSED.
func TestWebhookPostsHonourIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	keyed := func(req apitest.Request, key string) apitest.Request { return header(req, "Idempotency-Key", key) }
	body := obj{"url": "https://hooks.example.com/a", "event_types": []string{"deal.*"}}

	first := s.As(u, keyed(post("/webhooks", body), "create-1"))
	expect(t, first, http.StatusCreated)
	again := s.As(u, keyed(post("/webhooks", body), "create-1"))
	expect(t, again, http.StatusCreated)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" ||
		again.Header.Get("Location") != first.Header.Get("Location") || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("replay: %s %v against %s %v", again.Body, again.Header, first.Body, first.Header)
	}
	other := obj{"url": "https://hooks.example.com/b", "event_types": []string{"deal.*"}}
	expect(t, s.As(u, keyed(post("/webhooks", other), "create-1")), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	if l := s.As(u, get("/webhooks")).JSON(t); l["total"] != 1.0 {
		t.Fatalf("%v subscriptions after a replayed create, want 1", l["total"])
	}

	id := first.JSON(t)["id"].(string)
	rotated := s.As(u, keyed(post("/webhooks/"+id+"/rotate-secret", nil), "rotate-1"))
	expect(t, rotated, http.StatusOK)
	rotatedAgain := s.As(u, keyed(post("/webhooks/"+id+"/rotate-secret", nil), "rotate-1"))
	expect(t, rotatedAgain, http.StatusOK)
	if string(rotatedAgain.Body) != string(rotated.Body) || rotatedAgain.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a repeated rotation answered %s, the first %s", rotatedAgain.Body, rotated.Body)
	}
	// A rotation without the key is a new one.
	if fresh := s.As(u, post("/webhooks/"+id+"/rotate-secret", nil)); string(fresh.Body) == string(rotated.Body) {
		t.Fatalf("a rotation without a key answered the keyed one's secret: %s", fresh.Body)
	}

	replayed := s.As(u, keyed(post("/webhooks/"+id+"/replay", obj{}), "replay-1"))
	expect(t, replayed, http.StatusAccepted)
	replayedAgain := s.As(u, keyed(post("/webhooks/"+id+"/replay", obj{}), "replay-1"))
	expect(t, replayedAgain, http.StatusAccepted)
	if replayedAgain.Header.Get("Idempotent-Replayed") != "true" || string(replayedAgain.Body) != string(replayed.Body) {
		t.Fatalf("a repeated replay answered %s %v", replayedAgain.Body, replayedAgain.Header)
	}
}

// A receiver that never answers holds up its own subscription only:
// another subscription of the same organization gets every event, and
// commands and read-your-writes queries go on, while the first hangs.
func TestWebhookAHangingReceiverSlowsNothingElse(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, "")
	owner := s.Register(t)
	release := make(chan struct{})
	defer close(release)
	hanging := newReceiver(t, func(_ int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusNoContent
	})
	healthy := newReceiver(t, nil)
	subscribe(t, s, owner, hanging.URL+"/hook", "deal.*")
	subscribe(t, s, owner, healthy.URL+"/hook", "deal.*")

	deals := dealEvents(t, s, owner, 3) // commands answered while the first delivery hangs
	want := dealVersions(t, s, owner, deals)
	n := 0
	for _, v := range want {
		n += v
	}
	waitFor(t, "every event at the healthy receiver", func() bool { return len(healthy.hooks()) >= n })
	checkOrder(t, healthy.hooks(), want)
	// In order: nothing after the first event reaches the hanging
	// receiver (its 10 s time-out may send that one again).
	for _, h := range hanging.hooks() {
		if first := hanging.hooks()[0].ID; h.ID != first {
			t.Errorf("the hanging receiver was sent %s after %s, which it never answered", h.ID, first)
		}
	}
}
