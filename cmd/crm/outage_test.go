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
		bad        problems
		mu         sync.Mutex
		acked      []string // contact ids answered 201
		unavail    atomic.Int64
		reads      atomic.Int64
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		ackCount   = func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
		readyWait  []time.Duration
		caughtUp   []time.Duration // PostgreSQL start → a read reflecting a new command
		readTimes  []time.Duration
		readStatus = map[int]int{}
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
			began := time.Now()
			r, err := owner.do(http.MethodGet, "/api/v1/contacts?page_size=5", nil, nil)
			reads.Add(1)
			if err == nil {
				mu.Lock()
				readTimes = append(readTimes, time.Since(began))
				readStatus[r.Status]++
				mu.Unlock()
			}
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
		waitFor(t, "/ready answering 503 with postgres down (and migrations unknown)", 30*time.Second, func() bool {
			r, err := probe.do(http.MethodGet, "/ready", nil, nil)
			return err == nil && r.Status == http.StatusServiceUnavailable && strings.Contains(string(r.Body), `"postgres":"down"`) &&
				strings.Contains(string(r.Body), `"migrations":"unknown"`)
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
		// Read-your-writes again: a fresh command, then a read that must
		// reflect it, which waits for the projectors to be back.
		waitFor(t, "a read reflecting a new command after the outage", 2*time.Minute, func() bool {
			r, err := owner.do(http.MethodPost, "/api/v1/contacts", map[string]any{"name": "after the outage"}, nil)
			if err != nil || r.Status != http.StatusCreated {
				return false
			}
			id, _ := r.JSON()["id"].(string)
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
			r, err = owner.do(http.MethodGet, "/api/v1/contacts/"+id, nil, nil)
			return err == nil && r.Status == http.StatusOK
		})
		caughtUp = append(caughtUp, time.Since(restarted))
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
	t.Logf("postgres outage: %d rounds, %d commands acknowledged, %d lost, %d answers 503 during outages (all with Retry-After), %d reads %v (median %v, max %v); after PostgreSQL started: /ready 200 in %v, read-your-writes in %v (medians; max %v)",
		rounds, len(acked), lost, unavail.Load(), reads.Load(), readStatus, median(readTimes), slices.Max(append(readTimes, 0)),
		median(readyWait), median(caughtUp), slices.Max(append(caughtUp, 0)))
}

// `crm serve` started while its PostgreSQL is down neither exits (to be
// restarted in a loop by its supervisor) nor serves half-wired: it says
// it is waiting, and once PostgreSQL is up it migrates and serves.
func TestServeStartedWhilePostgresIsDownWaitsForIt(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	pg.Stop()
	crm := spawnCRM(t, serverEnv("DATABASE_URL", pg.URL(), "HTTP_ADDR", freeAddr(t)))
	waitFor(t, "crm saying it waits for PostgreSQL", 2*time.Minute, func() bool {
		if !crm.Running() {
			t.Fatalf("crm serve exited while PostgreSQL was down (%v):\n%s", crm.err, tail(crm.logs.String(), 20))
		}
		return strings.Count(crm.logs.String(), `msg="waiting for PostgreSQL"`) >= 3
	})
	pg.Start()
	crm.waitHealthy(2 * time.Minute)
	c := register(t, crm.URL)
	c.must(t, http.StatusCreated, http.MethodPost, "/api/v1/contacts", map[string]any{"name": "after the wait"})
	if got := listTotal(t, c, "/api/v1/contacts"); got != 1 {
		t.Fatalf("GET /contacts total = %d, want 1", got)
	}

	// What waiting cannot cure is an error at once: a database that does
	// not exist on a server that answers.
	wrong := spawnCRM(t, serverEnv("DATABASE_URL", strings.Replace(pg.URL(), "/crm?", "/no_such_database?", 1), "HTTP_ADDR", freeAddr(t)))
	select {
	case <-wrong.exited:
	case <-time.After(time.Minute):
		t.Fatalf("crm serve on a database that does not exist is still running:\n%s", tail(wrong.logs.String(), 10))
	}
	if out := wrong.logs.String(); wrong.err == nil || !strings.Contains(out, "3D000") || strings.Contains(out, "waiting for PostgreSQL") {
		t.Fatalf("crm serve on a database that does not exist: %v\n%s", wrong.err, tail(out, 10))
	}
}

// restartCRM starts the server again and adds to waits how long it took
// from the process start to /ready answering 200.
func restartCRM(t *testing.T, env map[string]string, waits *[]time.Duration) *crmProcess {
	t.Helper()
	started := time.Now()
	crm := startCRM(t, env)
	probe := newClient(crm.URL)
	waitFor(t, "/ready after the restart", 2*time.Minute, func() bool {
		r, err := probe.do(http.MethodGet, "/ready", nil, nil)
		return err == nil && r.Status == http.StatusOK
	})
	*waits = append(*waits, time.Since(started))
	return crm
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
			crm = restartCRM(t, env, &readyWait)
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
	crm = restartCRM(t, env, &readyWait)
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
	t.Logf("sigkill: %d rounds, %d writers, %d commands acknowledged or retried, %d lost, %d duplicated, %d unanswered at a kill and replayed on retry; /ready 200 %v (median) after the process started again",
		rounds, writers, len(ids)-writers, lost, len(contacts)+len(deals)-wantContacts-wantDeals, replayed, median(readyWait))
}

// Redis stopped and started again under read and write traffic: every
// answer is what it would be with Redis — the analytics equal a model of
// the deals each client created and changed, a login succeeds (the rate
// limiter counts in the process meanwhile) — no 5xx, /ready stays 200
// and says redis "down", and once Redis is back the cache answers again
// (its hit counter moves).
func TestRedisOutageUnderTrafficChangesNoAnswer(t *testing.T) {
	t.Parallel()
	rounds := reliabilityRounds(t)
	rd := startPrivateRedis(t)
	crm := startCRM(t, serverEnv("DATABASE_URL", testenv.Postgres(t), "REDIS_URL", rd.URL(),
		"HTTP_ADDR", freeAddr(t), "AUTH_RATE_LIMIT", "100000"))
	probe := newClient(crm.URL)

	const clients = 3
	users := make([]*client, clients)
	for i := range users {
		users[i] = register(t, crm.URL)
	}
	var (
		bad      problems
		requests atomic.Int64
		outage   atomic.Bool
		during   atomic.Int64 // requests answered while Redis was down
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for _, c := range users {
		contact := c.must(t, http.StatusCreated, http.MethodPost, "/api/v1/contacts", map[string]any{"name": "buyer"})["id"]
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newDealModel()
			// call sends one request of the traffic; want is the only
			// acceptable status.
			call := func(want int, method, path string, body any) map[string]any {
				r, err := c.do(method, path, body, nil)
				requests.Add(1)
				if outage.Load() {
					during.Add(1)
				}
				if err != nil {
					bad.add("%s %s: no answer: %v", method, path, err)
					return nil
				}
				if r.Status != want {
					bad.add("%s %s: %d %s (want %d; Redis down: %v)", method, path, r.Status, r.Body, want, outage.Load())
					return nil
				}
				return r.JSON()
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var touched string
				if len(m.deals) == 0 || rand.IntN(2) == 0 {
					d := &modelDeal{status: "new", cents: 100 + rand.Int64N(1_000_000), currency: []string{"USD", "EUR"}[rand.IntN(2)]}
					body := call(http.StatusCreated, http.MethodPost, "/api/v1/deals", map[string]any{
						"contact_id": contact, "title": fmt.Sprintf("deal %d", i), "amount": d.amount(), "currency": d.currency})
					if body == nil {
						return
					}
					touched, _ = body["id"].(string)
					m.deals[touched] = d
				} else {
					touched = m.any()
					d := m.deals[touched]
					next := m.otherStatus(d.status)
					if call(http.StatusOK, http.MethodPatch, "/api/v1/deals/"+touched, map[string]any{"status": next}) == nil {
						return
					}
					d.status = next
				}
				// Twice: with Redis up, the second is a cache hit.
				for range 2 {
					if got := call(http.StatusOK, http.MethodGet, "/api/v1/analytics/deals/summary", nil); got != nil {
						if diff := m.summaryDiff(got); diff != "" {
							bad.add("summary differs from the model (Redis down: %v): %s", outage.Load(), diff)
						}
					}
				}
				if got := call(http.StatusOK, http.MethodGet, "/api/v1/analytics/deals/funnel", nil); got != nil {
					if diff := m.funnelDiff(got); diff != "" {
						bad.add("funnel differs from the model (Redis down: %v): %s", outage.Load(), diff)
					}
				}
				if got := call(http.StatusOK, http.MethodGet, "/api/v1/deals/"+touched, nil); got != nil {
					if d := m.deals[touched]; got["status"] != d.status || got["amount"] != d.amount() {
						bad.add("deal %s: %v %v, want %s %s", touched, got["status"], got["amount"], d.status, d.amount())
					}
				}
			}
		}()
	}
	stopTraffic := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopTraffic)
	cacheHits := func() float64 {
		r, err := probe.do(http.MethodGet, "/metrics", nil, nil)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("/metrics: %v %v", r, err)
		}
		var sum float64
		for _, l := range strings.Split(string(r.Body), "\n") {
			if strings.HasPrefix(l, "crm_cache_hits_total{") {
				f := strings.Fields(l)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				sum += v
			}
		}
		return sum
	}
	readySays := func(redis string) func() bool {
		return func() bool {
			r, err := probe.do(http.MethodGet, "/ready", nil, nil)
			return err == nil && r.Status == http.StatusOK && strings.Contains(string(r.Body), `"redis":"`+redis+`"`)
		}
	}

	hits := cacheHits()
	waitFor(t, "the cache answering before the outage", time.Minute, func() bool { return cacheHits() > hits })
	for round := 1; round <= rounds; round++ {
		before := requests.Load()
		waitFor(t, "traffic with Redis up", time.Minute, func() bool { return requests.Load() >= before+30 })

		outage.Store(true)
		rd.Stop()
		waitFor(t, "/ready 200 saying redis is down", 30*time.Second, readySays("down"))
		d := during.Load()
		// A login counts against the rate limit, in Redis when it is up:
		// while it is down the process counts, and the login succeeds.
		users[0].must(t, http.StatusOK, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": users[0].email, "password": registerPassword})
		waitFor(t, "traffic while Redis is down", time.Minute, func() bool { return during.Load() >= d+30 })

		rd.Start()
		outage.Store(false)
		waitFor(t, "/ready 200 saying redis is ok", 30*time.Second, readySays("ok"))
		hits := cacheHits()
		waitFor(t, "the cache answering again after Redis restarted", time.Minute, func() bool { return cacheHits() > hits })
	}
	stopTraffic()
	bad.report(t)
	t.Logf("redis outage: %d rounds, %d clients, %d requests (%d while Redis was down), %d answers differing from the model, %.0f cache hits",
		rounds, clients, requests.Load(), during.Load(), len(bad.list), cacheHits())
}

// dealModel is what one client knows of its organization's deals: the
// analytics must agree with it.
type dealModel struct{ deals map[string]*modelDeal }

type modelDeal struct {
	status, currency string
	cents            int64
}

func newDealModel() *dealModel { return &dealModel{deals: map[string]*modelDeal{}} }

func (d *modelDeal) amount() string { return fmt.Sprintf("%d.%02d", d.cents/100, d.cents%100) }

var dealStatuses = []string{"new", "in_progress", "won", "lost"}

// any returns some deal's id.
func (m *dealModel) any() string {
	for id := range m.deals {
		return id
	}
	return ""
}

func (m *dealModel) otherStatus(s string) string {
	for {
		if n := dealStatuses[rand.IntN(len(dealStatuses))]; n != s {
			return n
		}
	}
}

// summaryDiff compares a /analytics/deals/summary answer with the model
// (counts and sums per status and currency, totals); "" when they agree.
func (m *dealModel) summaryDiff(got map[string]any) string {
	type cell struct {
		count int64
		cents map[string]int64
	}
	want := map[string]*cell{}
	for _, s := range dealStatuses {
		want[s] = &cell{cents: map[string]int64{}}
	}
	for _, d := range m.deals {
		want[d.status].count++
		want[d.status].cents[d.currency] += d.cents
	}
	var diffs []string
	byStatus, _ := got["by_status"].(map[string]any)
	for _, s := range dealStatuses {
		g, _ := byStatus[s].(map[string]any)
		if c, _ := g["count"].(float64); int64(c) != want[s].count {
			diffs = append(diffs, fmt.Sprintf("%s count %v, want %d", s, g["count"], want[s].count))
		}
		sums, _ := g["total_amount"].(map[string]any)
		wantSums := map[string]any{}
		for cur, cents := range want[s].cents {
			wantSums[cur] = (&modelDeal{cents: cents}).amount()
		}
		if fmt.Sprint(sums) != fmt.Sprint(wantSums) {
			diffs = append(diffs, fmt.Sprintf("%s total_amount %v, want %v", s, sums, wantSums))
		}
	}
	n := float64(len(m.deals))
	if got["total_deals"] != n || got["new_deals_last_30_days"] != n {
		diffs = append(diffs, fmt.Sprintf("total_deals %v, new_deals_last_30_days %v, want %v", got["total_deals"], got["new_deals_last_30_days"], n))
	}
	return strings.Join(diffs, "; ")
}

// funnelDiff compares the first stage of /analytics/deals/funnel (every
// deal of the model is in qualification) with the model.
func (m *dealModel) funnelDiff(got map[string]any) string {
	stages, _ := got["stages"].([]any)
	if len(stages) != 4 {
		return fmt.Sprintf("%d stages", len(stages))
	}
	first, _ := stages[0].(map[string]any)
	want := map[string]any{}
	for _, s := range dealStatuses {
		want[s] = float64(0)
	}
	for _, d := range m.deals {
		want[d.status] = want[d.status].(float64) + 1
	}
	n := float64(len(m.deals))
	if first["stage"] != "qualification" || first["count"] != n || first["reached"] != n || fmt.Sprint(first["by_status"]) != fmt.Sprint(want) {
		return fmt.Sprintf("first stage %v, want qualification count=reached=%v by_status %v", first, n, want)
	}
	return ""
}
