// Package ratelimit bounds how often one client may try something (log in,
// register): at most Limit attempts per subject (a client IP, an e-mail)
// in a fixed one-minute window that starts with the first attempt.
//
// With Redis the count is shared by every server process (INCR and
// PEXPIRE in one Lua script, keys prefixed "crm:rl:"); without it, or
// while Redis fails, each process counts on its own, so an outage makes
// the limit per process instead of global, never absent.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix starts every Redis key of the limiter.
const KeyPrefix = "crm:rl:"

// Window is the span each count covers.
const Window = time.Minute

// redisTimeout bounds one Redis round trip: a slow Redis must not make
// logins slow; past it the process counts on its own.
const redisTimeout = 250 * time.Millisecond

// incr counts one attempt and returns the count and the window's
// remaining milliseconds. PEXPIRE runs on the first attempt only, so the
// window is fixed; a key that somehow lost its expiry gets one again.
var incr = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`)

// Limiter counts attempts.
type Limiter struct {
	limit int
	rdb   *redis.Client
	log   *slog.Logger
	mem   *memory
}

// New returns a Limiter allowing limit attempts per subject and window
// (AUTH_RATE_LIMIT; 0 allows everything), in Redis when rdb is not nil.
func New(limit int, rdb *redis.Client, log *slog.Logger) *Limiter {
	if log == nil {
		log = slog.Default()
	}
	return &Limiter{limit: limit, rdb: rdb, log: log, mem: newMemory(time.Now)}
}

// Allow counts one attempt of subject under scope ("login:ip",
// "login:email") and reports whether it is within the limit; when it is
// not, retryAfter says when the window ends. Subjects are hashed before
// they are used as keys, so no e-mail address is stored in Redis.
func (l *Limiter) Allow(ctx context.Context, scope, subject string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.limit <= 0 {
		return true, 0
	}
	key := KeyPrefix + scope + ":" + digest(subject)
	if l.rdb != nil {
		n, ttl, err := l.redisCount(ctx, key)
		if err == nil {
			return n <= int64(l.limit), ttl
		}
		l.log.WarnContext(ctx, "rate limit: Redis failed, counting in this process", slog.Any("error", err))
	}
	n, ttl := l.mem.count(key)
	return n <= l.limit, ttl
}

func (l *Limiter) redisCount(ctx context.Context, key string) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	v, err := incr.Run(ctx, l.rdb, []string{key}, Window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(v) != 2 {
		return 0, 0, errShape
	}
	return v[0], time.Duration(v[1]) * time.Millisecond, nil
}

var errShape = errors.New("ratelimit: unexpected reply from Redis")

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// memory is the in-process counter: fixed windows per key, with expired
// windows swept at most once per Window so the map cannot grow without
// bound.
type memory struct {
	mu        sync.Mutex
	now       func() time.Time
	windows   map[string]*window
	lastSweep time.Time
}

type window struct {
	count int
	ends  time.Time
}

func newMemory(now func() time.Time) *memory {
	return &memory{now: now, windows: map[string]*window{}, lastSweep: now()}
}

// count counts one attempt under key and returns the count in the current
// window and the time left in it.
func (m *memory) count(key string) (int, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.lastSweep) >= Window {
		for k, w := range m.windows {
			if !now.Before(w.ends) {
				delete(m.windows, k)
			}
		}
		m.lastSweep = now
	}
	w, ok := m.windows[key]
	if !ok || !now.Before(w.ends) {
		w = &window{ends: now.Add(Window)}
		m.windows[key] = w
	}
	w.count++
	return w.count, w.ends.Sub(now)
}
