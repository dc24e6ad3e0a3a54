package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/crm/internal/testenv"
)

// The reliability tests: outages of PostgreSQL and Redis, and SIGKILL of
// the server, each against `crm serve` running as a process of its own
// (see process_test.go), under traffic. Each repeats its cycle
// CRM_RELIABILITY_ROUNDS times (default 2); docs/reliability.md reports
// a longer run.

// serverEnv is the configuration every server of these tests gets, with
// kv's pairs added (HTTP_ADDR among them).
func serverEnv(kv ...string) map[string]string {
	env := map[string]string{
		"SECRET_KEY":          "reliability-test-secret-key-0123456789",
		"AUTH_RATE_LIMIT":     "0",
		"LOG_LEVEL":           "warn",
		"CONSISTENCY_TIMEOUT": "10s",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// checkUnavailable reports what is wrong with a 503 answer: it must be
// problem+json with code UNAVAILABLE or PROJECTION_BEHIND and a positive
// Retry-After (API.md §1, Errors).
func checkUnavailable(r *reply) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("503 with Content-Type %q: %s", ct, r.Body)
	}
	if code := r.Code(); code != "UNAVAILABLE" && code != "PROJECTION_BEHIND" {
		return fmt.Errorf("503 with code %q: %s", code, r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		return fmt.Errorf("503 without a positive Retry-After (%q): %s", r.Header.Get("Retry-After"), r.Body)
	}
	return nil
}

// problems collects what traffic goroutines found wrong, for the test to
// report once (goroutines must not call t.Fatal).
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.list) < 20 {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

func (p *problems) report(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.list {
		t.Error(s)
	}
}

// streamsOf returns the ids of the streams of org that have an event of
// eventType: what the event log, the source of truth, holds.
func streamsOf(t *testing.T, dsn, org, eventType string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT stream_id::text FROM events WHERE tenant_id = $1 AND event_type = $2`, org, eventType)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, id := range ids {
		if set[id] {
			t.Errorf("stream %s has two %s events", id, eventType)
		}
		set[id] = true
	}
	return set
}

// listTotal is the total of an (unfiltered, so exactly counted) list.
func listTotal(t *testing.T, c *client, path string) int {
	t.Helper()
	body := c.must(t, http.StatusOK, http.MethodGet, path+"?page_size=1", nil)
	total, ok := body["total"].(float64)
	if !ok {
		t.Fatalf("GET %s: no total: %v", path, body)
	}
	return int(total)
}

// median of durations (0 for none).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// PostgreSQL stopped under write and read traffic, then started again:
// meanwhile every answer is the write's success or a 503 problem with
// Retry-After (never a 500, never a dropped connection), /ready is 503
// and /health 200; the process stays up (same pid, no restart) and
// recovers by itself: commands and reads succeed again, every command
// acknowledged before, during or after the outage is in the event log,
// and the read models catch up with all of it.
func TestPostgresOutageAnswers503WithRetryAfterAndRecovers(t *testing.T) {
	t.Parallel()
	rounds := reliabilityRounds(t)
	pg := startPrivatePostgres(t)
	crm := startCRM(t, serverEnv("DATABASE_URL", pg.URL(), "HTTP_ADDR", freeAddr(t)))
	pid := crm.cmd.Process.Pid
	owner := register(t, crm.URL)

	var (
		bad       problems
		mu        sync.Mutex
		acked     []string // contact ids answered 201
		unavail   atomic.Int64
		reads     atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		ackCount  = func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
		readyWait []time.Duration
	)
	// answer checks one answer of the traffic: ok is a success.
	answer := func(what string, r *reply, err error, want int) (ok bool) {
		switch {
		case err != nil:
			bad.add("%s: no answer: %v", what, err)
		case r.Status == want:
			return true
		case r.Status == http.StatusServiceUnavailable:
			unavail.Add(1)
			if err := checkUnavailable(r); err != nil {
				bad.add("%s: %v", what, err)
			}
		default:
			bad.add("%s: %d %s", what, r.Status, r.Body)
		}
		return false
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := owner.do(http.MethodPost, "/api/v1/contacts", map[string]any{"name": fmt.Sprintf("writer %d contact %d", w, i)}, nil)
				if answer("POST /contacts", r, err, http.StatusCreated) {
					id, _ := r.JSON()["id"].(string)
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := owner.do(http.MethodGet, "/api/v1/contacts?page_size=5", nil, nil)
			reads.Add(1)
			if !answer("GET /contacts", r, err, http.StatusOK) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})

	for round := 1; round <= rounds; round++ {
		before := ackCount()
		waitFor(t, "commands acknowledged before the outage", time.Minute, func() bool { return ackCount() >= before+20 })

		pg.Stop()
		unavailBefore := unavail.Load()
		// While it is down: the API answers 503 with Retry-After, /ready
		// says not ready, /health says the process lives.
		probe := newClient(crm.URL)
		r, err := probe.do(http.MethodGet, "/health", nil, nil)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("round %d: /health during the outage: %v %v", round, r, err)
		}
		waitFor(t, "/ready answering 503 with postgres down", 30*time.Second, func() bool {
			r, err := probe.do(http.MethodGet, "/ready", nil, nil)
			return err == nil && r.Status == http.StatusServiceUnavailable && strings.Contains(string(r.Body), `"postgres":"down"`)
		})
		for _, path := range []string{"/api/v1/contacts", "/api/v1/deals", "/api/v1/auth/me"} {
			r, err := owner.do(http.MethodGet, path, nil, nil)
			if err != nil || r.Status != http.StatusServiceUnavailable {
				t.Fatalf("round %d: GET %s during the outage: %v %v", round, path, r, err)
			}
			if err := checkUnavailable(r); err != nil {
				t.Fatalf("round %d: GET %s: %v", round, path, err)
			}
		}
		r, err = owner.do(http.MethodPost, "/api/v1/contacts", map[string]any{"name": "during the outage"}, nil)
		if err != nil || r.Status != http.StatusServiceUnavailable || checkUnavailable(r) != nil {
			t.Fatalf("round %d: POST /contacts during the outage: %v %v", round, r, err)
		}
		waitFor(t, "the traffic meeting the outage", 30*time.Second, func() bool { return unavail.Load() >= unavailBefore+10 })

		restarted := time.Now()
		pg.Start()
		waitFor(t, "/ready answering 200 after PostgreSQL is back", 2*time.Minute, func() bool {
			r, err := probe.do(http.MethodGet, "/ready", nil, nil)
			return err == nil && r.Status == http.StatusOK
		})
		readyWait = append(readyWait, time.Since(restarted))
		after := ackCount()
		waitFor(t, "commands acknowledged after the outage", time.Minute, func() bool { return ackCount() >= after+20 })
		if !crm.Running() || crm.cmd.Process.Pid != pid {
			t.Fatalf("round %d: the server exited (%v)", round, crm.err)
		}
	}
	close(stop)
	wg.Wait()
	bad.report(t)

	// Every acknowledged command is in the log, and the read model (read
	// through read-your-writes) holds exactly what the log holds.
	logged := streamsOf(t, pg.URL(), owner.org, "contact.created")
	lost := 0
	for _, id := range acked {
		if !logged[id] {
			lost++
			t.Errorf("contact %s was acknowledged (201) but is not in the event log", id)
		}
	}
	if got := listTotal(t, owner, "/api/v1/contacts"); got != len(logged) {
		t.Errorf("GET /contacts total = %d after recovery; the event log has %d contacts", got, len(logged))
	}
	if !crm.Running() || crm.cmd.Process.Pid != pid {
		t.Fatalf("the server exited (%v)", crm.err)
	}
	t.Logf("postgres outage: %d rounds, %d commands acknowledged, %d lost, %d answers 503 during outages (all with Retry-After), %d reads; /ready again %v (median) after PostgreSQL started",
		rounds, len(acked), lost, unavail.Load(), reads.Load(), median(readyWait))
}

// SIGKILL of the server under write load, again and again: after each
// restart on the same database, every command answered 2xx is in the
// event log and the read models; a command left without an answer,
// retried with its Idempotency-Key and body, is either replayed (it had
// committed) or done now, and never twice.
func TestSIGKILLUnderWriteLoadLosesNoAcknowledgedCommand(t *testing.T) {
	t.Parallel()
	rounds := reliabilityRounds(t)
	dsn := testenv.Postgres(t) // the shared cluster: only the server dies here
	env := serverEnv("DATABASE_URL", dsn, "HTTP_ADDR", freeAddr(t))
	crm := startCRM(t, env)
	owner := register(t, crm.URL)

	const writers = 8
	// Each writer has its own contact for its deals: creating a deal also
	// appends to its contact's stream, and writers must not contend.
	contactOf := make([]string, writers)
	for w := range contactOf {
		body := owner.must(t, http.StatusCreated, http.MethodPost, "/api/v1/contacts", map[string]any{"name": fmt.Sprintf("writer %d", w)})
		contactOf[w], _ = body["id"].(string)
	}

	type command struct {
		key, path string
		body      map[string]any
	}
	var (
		bad        problems
		mu         sync.Mutex
		ids        = map[string]string{} // idempotency key → id of what it created (acknowledged)
		kinds      = map[string]string{} // idempotency key → event type it appends
		unanswered []command
		replayed   int
		readyWait  []time.Duration
	)
	for w := range contactOf {
		ids[fmt.Sprintf("setup-%d", w)], kinds[fmt.Sprintf("setup-%d", w)] = contactOf[w], "contact.created"
	}
	send := func(c *client, cmd command) (*reply, error) {
		return c.do(http.MethodPost, cmd.path, cmd.body, map[string]string{"Idempotency-Key": cmd.key})
	}
	record := func(cmd command, r *reply) {
		id, _ := r.JSON()["id"].(string)
		kind := "contact.created"
		if cmd.path == "/api/v1/deals" {
			kind = "deal.created"
		}
		mu.Lock()
		defer mu.Unlock()
		ids[cmd.key], kinds[cmd.key] = id, kind
	}

	for round := 1; round <= rounds; round++ {
		if round > 1 {
			started := time.Now()
			crm = startCRM(t, env)
			readyWait = append(readyWait, time.Since(started))
			owner = owner.at(crm.URL)
			// What the kill left unanswered is sent again, as a client
			// would: same key, same body.
			mu.Lock()
			retry := unanswered
			unanswered = nil
			mu.Unlock()
			for _, cmd := range retry {
				r, err := send(owner, cmd)
				if err != nil || r.Status != http.StatusCreated {
					t.Fatalf("round %d: retrying %s %v after the restart: %v %v", round, cmd.path, cmd.body, r, err)
				}
				if r.Header.Get("Idempotent-Replayed") == "true" {
					replayed++
				}
				record(cmd, r)
			}
		}

		var acks atomic.Int64
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					cmd := command{key: fmt.Sprintf("r%d-w%d-%d", round, w, i), path: "/api/v1/contacts",
						body: map[string]any{"name": fmt.Sprintf("round %d writer %d #%d", round, w, i)}}
					if i%2 == 1 {
						cmd.path, cmd.body = "/api/v1/deals", map[string]any{"contact_id": contactOf[w],
							"title": fmt.Sprintf("round %d writer %d #%d", round, w, i), "amount": "100.00", "currency": "USD"}
					}
					r, err := send(owner, cmd)
					switch {
					case err != nil: // killed: this one is unanswered, and the writer is done
						mu.Lock()
						unanswered = append(unanswered, cmd)
						mu.Unlock()
						return
					case r.Status == http.StatusCreated:
						record(cmd, r)
						acks.Add(1)
					default:
						bad.add("round %d: POST %s: %d %s", round, cmd.path, r.Status, r.Body)
						return
					}
				}
			}()
		}
		// Kill at a random moment once the load is running.
		waitFor(t, "write load", time.Minute, func() bool { return acks.Load() >= 10 })
		time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
		crm.kill()
		wg.Wait()
		bad.report(t)
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("round %d: SIGKILL after %d acknowledged commands, %d unanswered", round, acks.Load(), len(unanswered))
	}

	// The last kill's unanswered commands, retried on a fresh server.
	started := time.Now()
	crm = startCRM(t, env)
	readyWait = append(readyWait, time.Since(started))
	owner = owner.at(crm.URL)
	for _, cmd := range unanswered {
		r, err := send(owner, cmd)
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("retrying %s %v after the last restart: %v %v", cmd.path, cmd.body, r, err)
		}
		if r.Header.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
		record(cmd, r)
	}
	// A second retry of anything is a replay that appends nothing.
	for key, id := range ids {
		if strings.HasPrefix(key, "setup-") {
			continue
		}
		r, err := owner.do(http.MethodPost, "/api/v1/contacts", map[string]any{"name": "another body"}, map[string]string{"Idempotency-Key": key})
		if err != nil || r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("key %s (%s) reused with another body: %v %v", key, id, r, err)
		}
		break
	}

	// Every acknowledged command is in the log, exactly once per key;
	// the read models agree with the log.
	contacts := streamsOf(t, dsn, owner.org, "contact.created")
	deals := streamsOf(t, dsn, owner.org, "deal.created")
	lost, wantContacts, wantDeals := 0, 0, 0
	for key, id := range ids {
		logged := contacts
		if kinds[key] == "deal.created" {
			logged = deals
			wantDeals++
		} else {
			wantContacts++
		}
		if !logged[id] {
			lost++
			t.Errorf("%s %s (key %s) was acknowledged but is not in the event log", kinds[key], id, key)
		}
	}
	if len(contacts) != wantContacts || len(deals) != wantDeals {
		t.Errorf("the log has %d contacts and %d deals; %d and %d were created (one per key)", len(contacts), len(deals), wantContacts, wantDeals)
	}
	if got := listTotal(t, owner, "/api/v1/contacts"); got != len(contacts) {
		t.Errorf("GET /contacts total = %d; the log has %d", got, len(contacts))
	}
	if got := listTotal(t, owner, "/api/v1/deals"); got != len(deals) {
		t.Errorf("GET /deals total = %d; the log has %d", got, len(deals))
	}
	t.Logf("sigkill: %d rounds, %d writers, %d commands acknowledged or retried, %d lost, %d duplicated, %d unanswered at a kill and replayed on retry; ready %v (median) after restart",
		rounds, writers, len(ids)-writers, lost, len(contacts)+len(deals)-wantContacts-wantDeals, replayed, median(readyWait))
}
