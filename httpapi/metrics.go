package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts and times HTTP requests for /metrics (API.md §4,
// Operations). It is a value registered on a Registerer the caller owns,
// not on the global default registry, so tests and several servers in one
// process do not collide.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates crm_http_requests_total{route,method,status} and
// crm_http_request_duration_seconds{route,method} and registers them on
// reg. It fails if reg already holds them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crm_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi.NewMetrics: %w", err)
		}
	}
	return m, nil
}

// Middleware records every request that passes through. The route label
// is the mux path template (see RecordRoute), or "unmatched", and the
// method label is one of the standard methods or "OTHER": labels taken
// from the raw request would let any client create series without bound.
// A panic passing through counts as a 500.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, ri := withRouteInfo(r)
		rw := wrapWriter(w)
		completed := false
		defer func() {
			status := rw.statusOrOK()
			if !completed && !rw.wroteHeader {
				status = http.StatusInternalServerError
			}
			route, method := routeOf(r, ri), methodLabel(r.Method)
			m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rw, r)
		completed = true
	})
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
		http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
