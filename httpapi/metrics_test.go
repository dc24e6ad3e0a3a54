package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// counterValue returns crm_http_requests_total for the labels, 0 if absent.
func counterValue(tb testing.TB, reg *prometheus.Registry, route, method, status string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "crm_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["route"] == route && got["method"] == method && got["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// histogramCount returns how many observations
// crm_http_request_duration_seconds has for the labels.
func histogramCount(tb testing.TB, reg *prometheus.Registry, route, method string) uint64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "crm_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["route"] == route && got["method"] == method {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		path       string
		times      int
		wantRoute  string
		wantMethod string
		wantStatus string
	}{
		{name: "matched route by template", method: "GET", path: "/api/v1/deals/d1", times: 3, wantRoute: "/api/v1/deals/{deal_id}", wantMethod: "GET", wantStatus: "200"},
		{name: "unknown path", method: "GET", path: "/wp-admin/x.php", times: 1, wantRoute: "unmatched", wantMethod: "GET", wantStatus: "404"},
		{name: "odd method is bounded", method: "BREW", path: "/api/v1/deals/d1", times: 1, wantRoute: "unmatched", wantMethod: "OTHER", wantStatus: "405"},
		{name: "error status", method: "GET", path: "/api/v1/fail", times: 2, wantRoute: "/api/v1/fail", wantMethod: "GET", wantStatus: "503"},
		{name: "panic counts as 500", method: "GET", path: "/api/v1/panic", times: 1, wantRoute: "/api/v1/panic", wantMethod: "GET", wantStatus: "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			logger, _ := newTestLogger()
			h := Chain(testRouter(), Logger(logger), m.Middleware, Recover(logger))
			for range tt.times {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
			}
			if got := counterValue(t, reg, tt.wantRoute, tt.wantMethod, tt.wantStatus); got != float64(tt.times) {
				t.Errorf("requests_total{%s,%s,%s} = %v, want %d", tt.wantRoute, tt.wantMethod, tt.wantStatus, got, tt.times)
			}
			if got := histogramCount(t, reg, tt.wantRoute, tt.wantMethod); got != uint64(tt.times) {
				t.Errorf("duration count = %d, want %d", got, tt.times)
			}
		})
	}
}

func TestMetricsPanicWithoutRecover(t *testing.T) {
	t.Parallel()
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		m.Middleware(testRouter()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/panic", nil))
	}()
	if got := counterValue(t, reg, "/api/v1/panic", "GET", "500"); got != 1 {
		t.Errorf("a panic passing through was counted %v times as 500", got)
	}
}

func TestNewMetricsRefusesDoubleRegistration(t *testing.T) {
	t.Parallel()
	reg := newRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("second NewMetrics on one registry succeeded")
	}
}
