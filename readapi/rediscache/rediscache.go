// Package rediscache caches the analytics answers (API.md §4, Analytics)
// in Redis, in front of any readapi.Analytics.
//
// An entry is never stale relative to an acknowledged command, because
// its key carries the organization's event horizon:
//
//	crm:{org_id}:analytics:{summary|funnel}:v1:{transaction_id}:{position}
//
// where (transaction_id, position) is the organization's newest committed
// event in projection order, read when the query begins
// (projections.Waiter.TenantHorizon). Every command appends events, so a
// command acknowledged before the query began either is the horizon or
// lies before it; an entry is stored under a horizon only after the
// deals projector (whose counters the analytics read) has processed
// everything up to it (the same wait that read-your-writes makes), so it
// reflects every such command. A new command makes a new key; old keys
// are left to expire (TTL 60 s).
//
// A hit therefore answers without waiting for the projector. A miss waits
// (unless the request is eventual), computes through the next
// readapi.Analytics and stores the answer. An eventual miss is not stored:
// it may reflect less than its horizon.
//
// Redis is never the source of truth: without a client every query goes
// straight to the next layer, and any Redis error (down, slow beyond
// redisTimeout, a garbled entry) counts as a miss and is computed, so its
// absence or failure changes speed, not answers. After a failure the
// cache is bypassed for pauseAfterFailure, so an outage does not add a
// timeout to every request.
//
// The one thing an entry may get wrong is time itself:
// new_deals_last_30_days is computed when the entry is stored, so for up
// to TTL it may still count a deal that has just turned 30 days old.
package rediscache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"example.com/crm"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
	"example.com/crm/readapi"
)

// TTL is how long an entry lives.
const TTL = 60 * time.Second

// redisTimeout bounds one Redis round trip: past it the answer is
// computed, so a slow Redis costs at most this much per request.
const redisTimeout = 100 * time.Millisecond

// pauseAfterFailure is how long the cache is bypassed after a Redis
// failure, so that an outage costs one timeout now and then rather than
// one per request.
const pauseAfterFailure = time.Second

// warnEvery throttles the warnings of a failing Redis (one per request
// would flood the log while it is down).
const warnEvery = 10 * time.Second

// Analytics is a readapi.Analytics answering from Redis when it can.
type Analytics struct {
	next   readapi.Analytics
	rdb    *redis.Client
	waiter *projections.Waiter
	log    *slog.Logger

	hits, misses *prometheus.CounterVec
	lastWarn     atomic.Int64 // unix nanoseconds
	pausedUntil  atomic.Int64 // unix nanoseconds
}

var _ readapi.Analytics = (*Analytics)(nil)

// Options wire an Analytics cache.
type Options struct {
	// Redis is the client; nil disables the cache (every query goes to
	// Next, which then waits for the projector itself).
	Redis *redis.Client
	// Waiter reads horizons and waits for the deals projector, whose
	// counters the analytics read.
	Waiter *projections.Waiter
	// Metrics, when set, receives crm_cache_hits_total and
	// crm_cache_misses_total, labelled by query (summary, funnel).
	Metrics prometheus.Registerer
	// Logger reports Redis failures (throttled); nil discards them.
	Logger *slog.Logger
}

// NewAnalytics caches next's answers.
func NewAnalytics(next readapi.Analytics, o Options) (*Analytics, error) {
	if o.Redis != nil && o.Waiter == nil {
		return nil, errors.New("rediscache: a cache needs a Waiter")
	}
	a := &Analytics{
		next: next, rdb: o.Redis, waiter: o.Waiter, log: o.Logger,
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_cache_hits_total",
			Help: "Analytics answers served from Redis, by query.",
		}, []string{"query"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_cache_misses_total",
			Help: "Analytics answers computed because Redis had none (or failed), by query.",
		}, []string{"query"}),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	for _, q := range []string{querySummary, queryFunnel} {
		a.hits.WithLabelValues(q)
		a.misses.WithLabelValues(q)
	}
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{a.hits, a.misses} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("rediscache: %w", err)
			}
		}
	}
	return a, nil
}

const (
	querySummary = "summary"
	queryFunnel  = "funnel"
)

// Key is the Redis key of query's answer for org at horizon h.
func Key(org uuid.UUID, query string, h projections.Horizon) string {
	return fmt.Sprintf("crm:%s:analytics:%s:v1:%d:%d", org, query, h.TransactionID, h.Position)
}

// DealSummary implements readapi.Analytics.
func (a *Analytics) DealSummary(ctx context.Context, orgID uuid.UUID) (readapi.DealSummary, error) {
	return cached(ctx, a, orgID, querySummary, a.next.DealSummary)
}

// DealFunnel implements readapi.Analytics.
func (a *Analytics) DealFunnel(ctx context.Context, orgID uuid.UUID) (readapi.DealFunnel, error) {
	return cached(ctx, a, orgID, queryFunnel, a.next.DealFunnel)
}

func cached[T any](ctx context.Context, a *Analytics, orgID uuid.UUID, query string,
	compute func(context.Context, uuid.UUID) (T, error)) (T, error) {
	var zero T
	if orgID == uuid.Nil {
		return zero, crm.ErrNoTenant
	}
	if a.rdb == nil {
		return compute(ctx, orgID)
	}
	if time.Now().UnixNano() < a.pausedUntil.Load() {
		a.misses.WithLabelValues(query).Inc()
		return compute(ctx, orgID)
	}
	h, err := a.waiter.TenantHorizon(ctx, orgID)
	if err != nil {
		return zero, err
	}
	if h.Position == 0 { // no event yet: nothing to key on, nothing to wait for
		return compute(ctx, orgID)
	}
	key := Key(orgID, query, h)
	if v, ok := get[T](ctx, a, key, query); ok {
		return v, nil
	}
	eventual := readapi.IsEventual(ctx)
	if !eventual {
		if err := a.waiter.WaitFor(ctx, h, sales.NameDeals); err != nil {
			return zero, err
		}
	}
	// The wait is done (or skipped): the next layer must not wait again.
	v, err := compute(readapi.WithEventualConsistency(ctx), orgID)
	if err != nil {
		return zero, err
	}
	if !eventual {
		a.set(ctx, key, v)
	}
	return v, nil
}

// get reads and decodes an entry; any failure is a miss.
func get[T any](ctx context.Context, a *Analytics, key, query string) (T, bool) {
	var v T
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	b, err := a.rdb.Get(rctx, key).Bytes()
	switch {
	case err == nil:
		if err = json.Unmarshal(b, &v); err == nil {
			a.hits.WithLabelValues(query).Inc()
			return v, true
		}
		a.warn(ctx, "decode", key, err) // overwritten by set below
	case !errors.Is(err, redis.Nil):
		a.failed(ctx, "read", key, err)
	}
	a.misses.WithLabelValues(query).Inc()
	return v, false
}

// set stores an entry; a failure only costs the next request a miss.
func (a *Analytics) set(ctx context.Context, key string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		rctx, cancel := context.WithTimeout(ctx, redisTimeout)
		err = a.rdb.Set(rctx, key, b, TTL).Err()
		cancel()
	}
	if err != nil {
		a.failed(ctx, "write", key, err)
	}
}

// failed pauses the cache and warns (throttled) about a Redis failure.
func (a *Analytics) failed(ctx context.Context, op, key string, err error) {
	if ctx.Err() != nil {
		return // the client went away: not Redis's fault
	}
	a.pausedUntil.Store(time.Now().Add(pauseAfterFailure).UnixNano())
	a.warn(ctx, op, key, err)
}

// warn logs a cache problem, at most once per warnEvery.
func (a *Analytics) warn(ctx context.Context, op, key string, err error) {
	now := time.Now().UnixNano()
	last := a.lastWarn.Load()
	if now-last < int64(warnEvery) || !a.lastWarn.CompareAndSwap(last, now) {
		return
	}
	a.log.WarnContext(ctx, "analytics cache: Redis failed, computing the answer", "op", op, "key", key, "error", err)
}
