package ratelimit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"example.com/crm/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// The rule, with and without Redis: limit attempts per subject and
// window, the next one refused with the time left; subjects and scopes
// count apart.
func TestLimit(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			t.Parallel()
			var rdb *redis.Client
			if withRedis {
				rdb = redisClient(t)
			}
			l := New(3, rdb, quiet)
			ctx := context.Background()
			subject := uuid.NewString() // fresh per test: Redis databases are shared
			for i := 1; i <= 3; i++ {
				if ok, _ := l.Allow(ctx, "login:email", subject); !ok {
					t.Fatalf("attempt %d refused", i)
				}
			}
			ok, retry := l.Allow(ctx, "login:email", subject)
			if ok || retry <= 0 || retry > Window {
				t.Fatalf("4th attempt: ok=%v retry=%v", ok, retry)
			}
			if ok, _ := l.Allow(ctx, "login:email", subject+"x"); !ok {
				t.Fatal("another subject was refused")
			}
			if ok, _ := l.Allow(ctx, "register:email", subject); !ok {
				t.Fatal("another scope was refused")
			}
			if withRedis {
				keys, err := rdb.Keys(ctx, KeyPrefix+"login:email:*").Result()
				if err != nil || len(keys) == 0 {
					t.Fatalf("no %s keys in Redis: %v %v", KeyPrefix, keys, err)
				}
				for _, k := range keys {
					if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > Window {
						t.Fatalf("key %s has TTL %v", k, ttl)
					}
				}
			}
		})
	}
}

// Concurrent attempts never let more than the limit through.
func TestLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			t.Parallel()
			var rdb *redis.Client
			if withRedis {
				rdb = redisClient(t)
			}
			l := New(5, rdb, quiet)
			subject := uuid.NewString()
			var mu sync.Mutex
			allowed := 0
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if ok, _ := l.Allow(context.Background(), "login:ip", subject); ok {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if allowed != 5 {
				t.Fatalf("%d of 20 concurrent attempts allowed, want 5", allowed)
			}
		})
	}
}

func TestZeroDisables(t *testing.T) {
	t.Parallel()
	l := New(0, nil, quiet)
	for range 100 {
		if ok, _ := l.Allow(context.Background(), "login:ip", "x"); !ok {
			t.Fatal("a disabled limiter refused")
		}
	}
}

// A Redis that does not answer makes the process count on its own: the
// limit still holds.
func TestRedisDownFallsBackToMemory(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer rdb.Close()
	l := New(2, rdb, quiet)
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		if ok, _ := l.Allow(ctx, "login:ip", "10.0.0.1"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if ok, retry := l.Allow(ctx, "login:ip", "10.0.0.1"); ok || retry <= 0 {
		t.Fatalf("3rd attempt with Redis down: ok=%v retry=%v", ok, retry)
	}
}

// Windows end: a new one starts after Window, and expired ones are swept.
func TestMemoryWindows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newMemory(func() time.Time { return now })
	if n, left := m.count("a"); n != 1 || left != Window {
		t.Fatalf("first: %d %v", n, left)
	}
	now = now.Add(40 * time.Second)
	if n, left := m.count("a"); n != 2 || left != 20*time.Second {
		t.Fatalf("second: %d %v", n, left)
	}
	m.count("b")
	now = now.Add(20 * time.Second) // a's window ends
	if n, _ := m.count("a"); n != 1 {
		t.Fatalf("after the window: %d", n)
	}
	now = now.Add(Window) // everything expired; the next count sweeps
	m.count("c")
	if len(m.windows) != 1 {
		t.Fatalf("%d windows left after a sweep, want 1", len(m.windows))
	}
}
