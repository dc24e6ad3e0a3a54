package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/feed"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestACursorReadsBackAsItself(t *testing.T) {
	for _, c := range []feed.Cursor{{}, {TransactionID: 1, Position: 1}, {TransactionID: 1<<63 + 5, Position: 1<<62 + 3}} {
		got, err := feed.ParseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	if c, err := feed.ParseCursor(""); err != nil || c != (feed.Cursor{}) {
		t.Errorf(`ParseCursor("") = %v, %v; want the start`, c, err)
	}
}

func TestAnythingButAHandedOutCursorIsAValidationError(t *testing.T) {
	for _, s := range []string{"x", "12", "MTox", "MToxOjI=", "%%%", "MTotMTotMQ", "MjoxOjI", "MToxOi0y", "MTowMToy"} {
		_, err := feed.ParseCursor(s)
		if crm.ErrorCode(err) != crm.CodeValidation {
			t.Errorf("ParseCursor(%q): %v, want VALIDATION_ERROR", s, err)
		}
	}
}

func TestTypesSelectNamesAndPrefixesAndRefuseTyposAndUserEvents(t *testing.T) {
	ty, err := feed.ParseTypes([]string{"deal.*", "contact.created"})
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]bool{
		"deal.created": true, "deal.stage_changed": true, "contact.created": true,
		"contact.updated": false, "task.created": false, "dealer.x": false,
	} {
		if ty.Match(typ) != want {
			t.Errorf("Match(%q) = %v, want %v", typ, !want, want)
		}
	}
	if all := (feed.Types{}); !all.Match("task.created") || all.Match("user.registered") {
		t.Error("the zero Types must select every type but user events")
	}
	for _, bad := range []string{"deal.creatd", "deal", "*", "deal.**", "de*.*", "user.registered", "user.*", ".*", ""} {
		if _, err := feed.ParseTypes([]string{bad}); crm.ErrorCode(err) != crm.CodeValidation {
			t.Errorf("ParseTypes(%q): %v, want VALIDATION_ERROR", bad, err)
		}
	}
}

// log is a database whose events table the test writes directly.
type log struct {
	pool   *pgxpool.Pool
	reader feed.Reader
}

func newLog(t *testing.T) *log {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &log{pool: pool, reader: feed.Reader{Pool: pool, Registry: events.Domain()}}
}

// comment appends a deal.commented event to deal's stream of org through
// q (a pool, or a transaction the test holds open).
func comment(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, org, deal uuid.UUID, version int, text string) {
	t.Helper()
	payload, _ := json.Marshal(events.DealCommented{CommentID: uuid.New(), Text: text})
	actor := uuid.New()
	var pos int64
	if err := q.QueryRow(context.Background(), `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, metadata, occurred_at)
		VALUES ($1, $2, 'deal', $3, $4, 'deal.commented', $5, $6, now()) RETURNING position`,
		uuid.New(), org, deal, version, payload, fmt.Sprintf(`{"tenant_id":%q,"actor_id":%q}`, org, actor)).Scan(&pos); err != nil {
		t.Fatal(err)
	}
}

// texts reads the whole feed of org from the start, limit per read, and
// returns the comments' texts in order.
func texts(t *testing.T, r feed.Reader, org uuid.UUID, types feed.Types, limit int) []string {
	t.Helper()
	var out []string
	var after feed.Cursor
	for {
		items, next, err := r.Read(context.Background(), org, after, types, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range items {
			var d struct{ Text string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, e.Type+":"+d.Text)
		}
		if next == after {
			return out
		}
		after = next
	}
}

func TestTheFeedIsOneOrganizationsEventsInOrderPageByPage(t *testing.T) {
	l := newLog(t)
	org, other, deal := uuid.New(), uuid.New(), uuid.New()
	var want []string
	for i := 1; i <= 7; i++ {
		comment(t, l.pool, org, deal, i, fmt.Sprint("c", i))
		comment(t, l.pool, other, uuid.New(), 1, "not yours")
		want = append(want, fmt.Sprint("deal.commented:c", i))
	}
	for _, limit := range []int{1, 3, 100} {
		if got := texts(t, l.reader, org, feed.Types{}, limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: %v, want %v", limit, got, want)
		}
	}
	items, _, err := l.reader.Read(context.Background(), org, feed.Cursor{}, feed.Types{}, 1)
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	e := items[0]
	if e.StreamType != "deal" || e.StreamID != deal || e.Version != 1 || e.ActorID == nil || e.Position <= 0 {
		t.Errorf("first event %+v", e)
	}
}

func TestAFilteredReadMovesItsCursorPastWhatItRejected(t *testing.T) {
	l := newLog(t)
	org := uuid.New()
	for i := 1; i <= 5; i++ {
		comment(t, l.pool, org, uuid.New(), 1, "x")
	}
	created, err := feed.ParseTypes([]string{"deal.created"})
	if err != nil {
		t.Fatal(err)
	}
	items, next, err := l.reader.Read(context.Background(), org, feed.Cursor{}, created, 10)
	if err != nil || len(items) != 0 {
		t.Fatal(items, err)
	}
	if next == (feed.Cursor{}) {
		t.Fatal("next did not move past the five comments the filter rejected")
	}
	comment(t, l.pool, org, uuid.New(), 1, "after")
	all, _, err := l.reader.Read(context.Background(), org, next, feed.Types{}, 10)
	if err != nil || len(all) != 1 {
		t.Fatalf("after the rejected ones: %d events (%v), want only the new one", len(all), err)
	}
}

// An event whose transaction began first but commits last is not skipped:
// the feed stops before it while it is open, and reads it, then what
// followed, once it commits.
func TestAnEventThatCommitsLateIsNotSkipped(t *testing.T) {
	l := newLog(t)
	ctx := context.Background()
	l.reader.HoldBack = 100 * time.Millisecond // the early transaction stays open meanwhile
	org := uuid.New()
	early, err := l.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	comment(t, early, org, uuid.New(), 1, "early")
	comment(t, l.pool, org, uuid.New(), 1, "late")

	items, next, err := l.reader.Read(ctx, org, feed.Cursor{}, feed.Types{}, 10)
	if err != nil || len(items) != 0 {
		t.Fatalf("while the early transaction is open: %d events, %v; want none", len(items), err)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, l.reader, org, feed.Types{}, 10); !slices.Equal(got, []string{"deal.commented:early", "deal.commented:late"}) {
		t.Errorf("after the commit: %v", got)
	}
	if next != (feed.Cursor{}) {
		t.Errorf("while the early transaction was open, next moved to %v", next)
	}
}

// Under concurrent writers whose transactions commit in any order, a
// follower reading as it goes sees every event exactly once.
func TestAFollowerUnderConcurrentWritesSeesEveryEventOnce(t *testing.T) {
	l := newLog(t)
	ctx := context.Background()
	org := uuid.New()
	const writers, each = 6, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deal := uuid.New()
			for i := 1; i <= each; i++ {
				tx, err := l.pool.Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				comment(t, tx, org, deal, i, fmt.Sprintf("w%d-%d", w, i))
				time.Sleep(time.Duration(i%3) * time.Millisecond) // commit out of position order
				if err := tx.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]int{}
	var after feed.Cursor
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		items, next, err := l.reader.Read(ctx, org, after, feed.Types{}, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range items {
			seen[e.ID.String()]++
		}
		after = next
		if finished && len(items) == 0 {
			break
		}
	}
	if len(seen) != writers*each {
		t.Errorf("saw %d distinct events, want %d", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s seen %d times", id, n)
		}
	}
}

func TestWaitReturnsOnceAnEventArrivesAndEmptyAtItsDeadline(t *testing.T) {
	l := newLog(t)
	hub := projections.NewHub()
	l.reader.Hub = hub
	ctx := context.Background()
	org := uuid.New()

	items, next, err := l.reader.Wait(ctx, org, feed.Cursor{}, feed.Types{}, 10, 50*time.Millisecond)
	if err != nil || len(items) != 0 || next != (feed.Cursor{}) {
		t.Fatalf("an empty feed: %v %v %v", items, next, err)
	}
	got := make(chan []feed.Event, 1)
	go func() {
		items, _, err := l.reader.Wait(ctx, org, feed.Cursor{}, feed.Types{}, 10, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- items
	}()
	time.Sleep(20 * time.Millisecond)
	comment(t, l.pool, org, uuid.New(), 1, "hello")
	hub.Ended()
	select {
	case items := <-got:
		if len(items) != 1 || !strings.Contains(string(items[0].Data), "hello") {
			t.Errorf("woke with %v", items)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not return after an event arrived")
	}
}

// The read is a range scan of the organization's index however long its
// history: EXPLAIN shows no sort and no sequential scan.
func TestTheFeedReadIsAnIndexRangeScan(t *testing.T) {
	l := newLog(t)
	ctx := context.Background()
	org := uuid.New()
	if _, err := l.pool.Exec(ctx, `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, occurred_at)
		SELECT gen_random_uuid(), CASE WHEN g % 100 = 0 THEN $1 ELSE gen_random_uuid() END, 'deal', gen_random_uuid(), 1,
		       'deal.commented', '{"text":"x"}', now()
		FROM generate_series(1, 20000) g`, org); err != nil {
		t.Fatal(err)
	}
	if _, err := l.pool.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	plan := explain(t, l.pool, org)
	// The LIMIT sits on the index scan, which reads one page (100 rows)
	// of the organization's 200 events; the sort above it orders that
	// page only.
	limitOnIndex := regexp.MustCompile(`Limit \(actual[^\n]*rows=100 [^\n]*\n\s*->  Index Scan using events_tenant_order_idx on events e \(actual[^\n]*rows=100 `)
	if !limitOnIndex.MatchString(plan) || strings.Contains(plan, "Seq Scan") {
		t.Errorf("the feed's read is not an index range scan:\n%s", plan)
	}
}

func explain(t *testing.T, pool *pgxpool.Pool, org uuid.UUID) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, COSTS OFF) "+feed.ReadSQL,
		org, "0", 0, 100, true, []string{}, []string{})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
