package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/apitest"
	"example.com/crm/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestOperationsRoutes(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		s := apitest.Start(t, apitest.Options{Redis: withRedis})

		if r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/health"}); r.Status != http.StatusOK || r.JSON(t)["status"] != "ok" {
			t.Fatalf("/health: %d %s", r.Status, r.Body)
		}
		r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/ready"})
		if r.Status != http.StatusOK {
			t.Fatalf("/ready: %d %s", r.Status, r.Body)
		}
		body := r.JSON(t)
		wantRedis := "disabled"
		if withRedis {
			wantRedis = "ok"
		}
		if body["postgres"] != "ok" || body["redis"] != wantRedis || body["migrations"] != "current" {
			t.Fatalf("/ready body: %s", r.Body)
		}
		if ps, _ := body["projections"].([]any); len(ps) == 0 {
			t.Fatalf("/ready lists no projections: %s", r.Body)
		}
		if r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"}); r.Status != http.StatusOK {
			t.Fatalf("/metrics: %d", r.Status)
		}
		if r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/nope"}); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
			t.Fatalf("unknown route: %d %s", r.Status, r.Body)
		}
	}
}

// /metrics counts commands by name and outcome: the ones that went
// through and, by their stable code, the ones refused.
func TestMetricsCountCommandsByOutcome(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	expect(t, s.As(u, patch("/contacts/"+contact, obj{"name": "Ada L."})), http.StatusOK)
	expect(t, s.As(u, patch("/contacts/"+contact, obj{"name": ""})), http.StatusBadRequest, "VALIDATION_ERROR")
	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"})
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	for _, want := range []string{
		`crm_commands_total{command="register",outcome="ok"} 1`,
		`crm_commands_total{command="create_contact",outcome="ok"} 1`,
		`crm_commands_total{command="update_contact",outcome="ok"} 1`,
		`crm_commands_total{command="update_contact",outcome="VALIDATION_ERROR"} 1`,
		`crm_command_duration_seconds_count{command="update_contact"} 2`,
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// /metrics shows HTTP requests, appended events and how long their
// appends took, and every projector's position and lag.
func TestMetricsReportEventsAndProjections(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	s.Register(t)
	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"})
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	for _, want := range []string{
		`crm_events_appended_total{type="user.registered"} 1`,
		"crm_event_append_seconds_count 1",
		`crm_projection_position{projector="deals"}`,
		`crm_projection_lag_seconds{projector="activities"}`,
		`crm_http_requests_total`,
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// /metrics counts the projectors' batches by whether they had to read
// rows of their tables first (a row-cache miss costs a round trip).
func TestMetricsCountTheProjectorsBatches(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	s.Register(t) // its events are the projectors' first batch
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"})
		if r.Status != http.StatusOK {
			t.Fatalf("/metrics: %d", r.Status)
		}
		known, hasKnown := metricValue(string(r.Body), `crm_projection_batches_total{rows="known"}`)
		read, hasRead := metricValue(string(r.Body), `crm_projection_batches_total{rows="read"}`)
		if hasKnown && hasRead && known+read >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never counted a batch:\n%s", r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricValue is the value of the sample named series (name and labels,
// as written) in a /metrics text.
func metricValue(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
