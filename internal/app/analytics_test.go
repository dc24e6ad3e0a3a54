package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"example.com/crm/internal/apitest"
	"example.com/crm/internal/testenv"
)

// canonical re-encodes a JSON object with sorted keys, without
// as_of_position (which it returns apart).
func canonical(t testing.TB, body []byte) (string, int64) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, body)
	}
	pos, ok := m["as_of_position"].(float64)
	if !ok {
		t.Fatalf("no as_of_position: %s", body)
	}
	delete(m, "as_of_position")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), int64(pos)
}

func jsonText(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(back)
	return string(b)
}

// analyticsOf GETs an analytics route as u and compares the body, but for
// as_of_position, with want. It returns as_of_position.
func analyticsOf(t testing.TB, s *apitest.Server, u apitest.User, route string, want obj) int64 {
	t.Helper()
	r := s.As(u, get("/analytics/deals/"+route))
	expect(t, r, http.StatusOK)
	got, pos := canonical(t, r.Body)
	if w := jsonText(t, want); got != w {
		t.Fatalf("%s:\n got  %s\n want %s", route, got, w)
	}
	return pos
}

func money(kv ...string) obj {
	m := obj{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func statusSummary(n int, total obj) obj { return obj{"count": n, "total_amount": total} }

func byStatus(n, p, w, l int) obj {
	return obj{"new": n, "in_progress": p, "won": w, "lost": l}
}

func funnelStage(stage string, count int, statuses obj, reached int, rate any) obj {
	return obj{"stage": stage, "count": count, "by_status": statuses, "reached": reached, "conversion_rate": rate}
}

// position is the X-Event-Position of a command's answer.
func position(t testing.TB, r *apitest.Response) int64 {
	t.Helper()
	p, err := strconv.ParseInt(r.Header.Get("X-Event-Position"), 10, 64)
	if err != nil {
		t.Fatalf("X-Event-Position %q: %v", r.Header.Get("X-Event-Position"), err)
	}
	return p
}

func TestAnalyticsOfAnOrganizationWithoutDeals(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	newContact(t, s, u, nil)
	none := statusSummary(0, obj{})
	analyticsOf(t, s, u, "summary", obj{
		"by_status":   obj{"new": none, "in_progress": none, "won": none, "lost": none},
		"total_deals": 0, "average_won_amount": obj{}, "win_rate": nil, "new_deals_last_30_days": 0,
	})
	analyticsOf(t, s, u, "funnel", obj{"stages": []obj{
		funnelStage("qualification", 0, byStatus(0, 0, 0, 0), 0, 100.0),
		funnelStage("proposal", 0, byStatus(0, 0, 0, 0), 0, nil),
		funnelStage("negotiation", 0, byStatus(0, 0, 0, 0), 0, nil),
		funnelStage("closed", 0, byStatus(0, 0, 0, 0), 0, nil),
	}})
	r := s.As(u, get("/analytics/deals/funnel"))
	if !strings.Contains(string(r.Body), `"conversion_rate":100.0`) {
		t.Fatalf("the first stage's rate is not written 100.0: %s", r.Body)
	}
}

// The summary and funnel of API.md, built through the API, then moved by
// PATCH and DELETE: each change shows in the very next GET (no sleeps),
// with and without Redis.
func TestAnalyticsFollowEveryCommand(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			t.Parallel()
			s := apitest.Start(t, apitest.Options{Redis: withRedis})
			tm := s.NewTeam(t)
			owner, member := tm.Owner, tm.Member
			c := newContact(t, s, owner, nil)
			deal := func(u apitest.User, amount, currency string, patches ...obj) string {
				t.Helper()
				id := newDeal(t, s, u, c, obj{"amount": amount, "currency": currency})
				for _, p := range patches {
					expect(t, s.As(owner, patch("/deals/"+id, p)), http.StatusOK)
				}
				return id
			}
			d1 := deal(member, "100.00", "USD")
			d2 := deal(owner, "200.00", "USD", obj{"status": "in_progress", "stage": "proposal"})
			d3 := deal(owner, "150.00", "USD", obj{"stage": "closed", "status": "won"}) // skips two stages
			deal(owner, "250.00", "usd", obj{"stage": "negotiation", "status": "won"})
			d5 := deal(owner, "50", "EUR", obj{"status": "lost"})
			deal(owner, "70.00", "EUR", obj{"stage": "negotiation", "status": "in_progress"}, obj{"stage": "proposal"}) // rolled back
			d7 := deal(owner, "10.00", "GBP")
			r := s.As(owner, del("/deals/"+d7))
			expect(t, r, http.StatusNoContent)
			last := position(t, r)

			// Another organization's deals never count.
			stranger := s.Register(t)
			newDeal(t, s, stranger, newContact(t, s, stranger, nil), obj{"amount": "999.00"})

			summary := func(newN int, newUSD string, won int, wonUSD, avgUSD string, winRate any) obj {
				return obj{
					"by_status": obj{
						"new":         statusSummary(newN, money("USD", newUSD)),
						"in_progress": statusSummary(2, money("USD", "200.00", "EUR", "70.00")),
						"won":         statusSummary(won, money("USD", wonUSD)),
						"lost":        statusSummary(1, money("EUR", "50.00")),
					},
					"total_deals": newN + 2 + won + 1, "average_won_amount": money("USD", avgUSD),
					"win_rate": winRate, "new_deals_last_30_days": newN + 2 + won + 1,
				}
			}
			if pos := analyticsOf(t, s, member, "summary", summary(1, "100.00", 2, "400.00", "200.00", 66.67)); pos < last {
				t.Fatalf("as_of_position %d is before the last command's position %d", pos, last)
			}
			analyticsOf(t, s, member, "funnel", obj{"stages": []obj{
				funnelStage("qualification", 2, byStatus(1, 0, 0, 1), 6, 100.0),
				funnelStage("proposal", 2, byStatus(0, 2, 0, 0), 4, 66.67),
				funnelStage("negotiation", 1, byStatus(0, 0, 1, 0), 3, 75.0),
				funnelStage("closed", 1, byStatus(0, 0, 1, 0), 1, 33.33),
			}})

			// Each command shows in the very next answer.
			expect(t, s.As(member, patch("/deals/"+d1, obj{"amount": "300.00"})), http.StatusOK)
			analyticsOf(t, s, member, "summary", summary(1, "300.00", 2, "400.00", "200.00", 66.67))
			expect(t, s.As(member, patch("/deals/"+d1, obj{"status": "won"})), http.StatusOK)
			analyticsOf(t, s, member, "summary", obj{
				"by_status": obj{
					"new":         statusSummary(0, obj{}),
					"in_progress": statusSummary(2, money("USD", "200.00", "EUR", "70.00")),
					"won":         statusSummary(3, money("USD", "700.00")),
					"lost":        statusSummary(1, money("EUR", "50.00")),
				},
				"total_deals": 6, "average_won_amount": money("USD", "233.33"),
				"win_rate": 75.0, "new_deals_last_30_days": 6,
			})
			expect(t, s.As(owner, patch("/deals/"+d5, obj{"stage": "closed"})), http.StatusOK)
			expect(t, s.As(owner, del("/deals/"+d3)), http.StatusNoContent)
			analyticsOf(t, s, member, "funnel", obj{"stages": []obj{
				funnelStage("qualification", 1, byStatus(0, 0, 1, 0), 5, 100.0),
				funnelStage("proposal", 2, byStatus(0, 2, 0, 0), 4, 80.0),
				funnelStage("negotiation", 1, byStatus(0, 0, 1, 0), 3, 75.0),
				funnelStage("closed", 1, byStatus(0, 0, 0, 1), 1, 33.33),
			}})

			// A currency change moves the sum to the other currency.
			expect(t, s.As(owner, patch("/deals/"+d2, obj{"currency": "EUR", "amount": "1.50"})), http.StatusOK)
			r = s.As(member, get("/analytics/deals/summary"))
			expect(t, r, http.StatusOK)
			if got := jsonText(t, r.JSON(t)["by_status"].(obj)["in_progress"]); got != jsonText(t, statusSummary(2, money("EUR", "71.50"))) {
				t.Fatalf("in_progress after a currency change: %s", got)
			}

			// Many rounds, alternating the two routes: never an old answer.
			for i := 1; i <= 10; i++ {
				amount := fmt.Sprintf("%d.00", 1000+i)
				expect(t, s.As(owner, patch("/deals/"+d2, obj{"amount": amount})), http.StatusOK)
				r := s.As(member, get("/analytics/deals/summary"))
				if got := r.JSON(t)["by_status"].(obj)["in_progress"].(obj)["total_amount"].(obj)["EUR"]; got != fmt.Sprintf("%d.00", 1070+i) {
					t.Fatalf("round %d: in_progress EUR %v", i, got)
				}
				stage := []string{"proposal", "negotiation"}[i%2] // forward, then back (owner)
				expect(t, s.As(owner, patch("/deals/"+d2, obj{"stage": stage})), http.StatusOK)
				f := s.As(member, get("/analytics/deals/funnel")).JSON(t)
				if got := f["stages"].([]any)[2].(obj)["count"]; got != float64(1+(i%2)) {
					t.Fatalf("round %d: negotiation count %v", i, got)
				}
			}
		})
	}
}

// With Redis, an answer is served from the cache until the next command,
// never after it; entries are keyed under the organization.
func TestAnalyticsCacheIsNeverStale(t *testing.T) {
	t.Parallel()
	url := testenv.Redis(t)
	s := apitest.Start(t, apitest.Options{Env: map[string]string{"REDIS_URL": url}})
	u := s.Register(t)
	c := newContact(t, s, u, nil)
	d := newDeal(t, s, u, c, obj{"amount": "1.00"})

	hitsBefore := cacheHits(t, s)
	for i := 2; i <= 6; i++ {
		for range 3 { // the first computes, the next two are hits
			r := s.As(u, get("/analytics/deals/summary"))
			if got := r.JSON(t)["by_status"].(obj)["new"].(obj)["total_amount"].(obj)["USD"]; got != fmt.Sprintf("%d.00", i-1) {
				t.Fatalf("round %d: total %v", i, got)
			}
			expect(t, s.As(u, get("/analytics/deals/funnel")), http.StatusOK)
		}
		expect(t, s.As(u, patch("/deals/"+d, obj{"amount": fmt.Sprintf("%d.00", i)})), http.StatusOK)
	}
	if hits := cacheHits(t, s) - hitsBefore; hits != 20 {
		t.Fatalf("%v cache hits, want 20 (2 per route and round)", hits)
	}
	// An eventual read may use the cache too.
	r := s.As(u, header(get("/analytics/deals/summary"), "Consistency", "eventual"))
	expect(t, r, http.StatusOK)

	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), "crm:"+u.Org+":analytics:*").Result()
	if err != nil || len(keys) < 10 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	for _, k := range keys {
		if ttl := rdb.TTL(context.Background(), k).Val(); ttl <= 0 || ttl.Seconds() > 60 {
			t.Errorf("%s: ttl %v", k, ttl)
		}
	}
}

var hitsLine = regexp.MustCompile(`(?m)^crm_cache_hits_total\{query="(summary|funnel)"\} (\d+)$`)

// cacheHits sums crm_cache_hits_total from /metrics.
func cacheHits(t testing.TB, s *apitest.Server) int {
	t.Helper()
	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"})
	expect(t, r, http.StatusOK)
	n := 0
	ms := hitsLine.FindAllStringSubmatch(string(r.Body), -1)
	if len(ms) != 2 {
		t.Fatalf("/metrics has no crm_cache_hits_total per query")
	}
	for _, m := range ms {
		v, _ := strconv.Atoi(m[2])
		n += v
	}
	return n
}

// A Redis that does not answer changes nothing but speed.
func TestAnalyticsWithRedisDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := apitest.Start(t, apitest.Options{Env: map[string]string{"REDIS_URL": "redis://" + addr + "/0"}})
	u := s.Register(t)
	c := newContact(t, s, u, nil)
	d := newDeal(t, s, u, c, obj{"amount": "5.00"})
	for i := 1; i <= 3; i++ {
		expect(t, s.As(u, patch("/deals/"+d, obj{"amount": fmt.Sprintf("%d.00", i)})), http.StatusOK)
		r := s.As(u, get("/analytics/deals/summary"))
		expect(t, r, http.StatusOK)
		if got := r.JSON(t)["by_status"].(obj)["new"].(obj)["total_amount"].(obj)["USD"]; got != fmt.Sprintf("%d.00", i) {
			t.Fatalf("round %d: total %v", i, got)
		}
		expect(t, s.As(u, get("/analytics/deals/funnel")), http.StatusOK)
	}
}

func TestAnalyticsNeedAMembership(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	stranger := s.Register(t)
	for _, route := range []string{"summary", "funnel"} {
		path := "/analytics/deals/" + route
		expect(t, s.Do(get(path)), http.StatusUnauthorized)
		r := get(path)
		r.Token = tm.Member.Token
		expect(t, s.Do(r), http.StatusBadRequest, "ORGANIZATION_REQUIRED")
		r.Org = tm.Owner.Org
		expect(t, s.Do(r), http.StatusOK)
		r = get(path)
		r.Org = tm.Owner.Org
		expect(t, s.As(stranger, r), http.StatusForbidden, "NOT_A_MEMBER")
	}
}
