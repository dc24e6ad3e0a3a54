package httpapi

import (
	"context"
	"net/http"
	"time"
)

// Readiness is what /ready reports. Postgres down or migrations not
// current make the server not ready (503); Redis down does not (it is a
// cache: answers stay the same, only slower).
type Readiness struct {
	Postgres    string                `json:"postgres"`   // ok | down
	Redis       string                `json:"redis"`      // ok | down | disabled
	Migrations  string                `json:"migrations"` // current | pending | unknown
	Projections []ProjectionReadiness `json:"projections"`
}

// ProjectionReadiness is one projector's position and lag.
type ProjectionReadiness struct {
	Name       string  `json:"name"`
	Position   int64   `json:"position"`
	Backlog    int64   `json:"backlog"`
	LagSeconds float64 `json:"lag_seconds"`
	// State is "running", or "stopped at a parked event" (a poison
	// event: see `crm projections status`); Parked counts those events.
	State  string `json:"state"`
	Parked int    `json:"parked"`
}

// Ready reports whether the server can serve.
func (r Readiness) Ready() bool { return r.Postgres == "ok" && r.Migrations == "current" }

// Ops serves the unauthenticated operations routes.
type Ops struct {
	Version string
	Ready   func(ctx context.Context) Readiness
}

// Health answers 200 while the process runs.
func (o Ops) Health(w http.ResponseWriter, _ *http.Request) error {
	return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": o.Version})
}

// ReadyHandler answers 200 when PostgreSQL answers and migrations are
// current, else 503, with every component's state in the body.
func (o Ops) ReadyHandler(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := o.Ready(ctx)
	if rd.Projections == nil {
		rd.Projections = []ProjectionReadiness{}
	}
	status := http.StatusOK
	body := struct {
		Status string `json:"status"`
		Readiness
	}{"ready", rd}
	if !rd.Ready() {
		status, body.Status = http.StatusServiceUnavailable, "not ready"
		w.Header().Set("Retry-After", "1")
	}
	return WriteJSON(w, status, body)
}
