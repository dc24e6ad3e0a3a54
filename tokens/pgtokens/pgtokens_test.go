package pgtokens_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
	"example.com/crm/tokens"
	"example.com/crm/tokens/pgtokens"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) (*pgtokens.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgtokens.New(pool), pool
}

// token returns a fresh token and its hash.
func token(t *testing.T) (string, []byte) {
	t.Helper()
	raw, hash, err := tokens.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	return raw, hash
}

// newUser inserts a user row (a token is valid only while its user
// exists) and returns its id.
func newUser(t *testing.T, pool *pgxpool.Pool) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := pool.Exec(context.Background(), `INSERT INTO users (id, email, email_lower, name, password_hash, created_at)
		VALUES ($1, $2, $2, 'T', 'x', now())`, id, id.String()+"@example.com"); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRotateRefusesADeletedUser: a refresh token whose user row is gone
// is invalid (issue 9), not a new session.
func TestRotateRefusesADeletedUser(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	user := newUser(t, pool)
	_, h1 := token(t)
	if err := s.Save(ctx, tokens.Refresh{Hash: h1, UserID: user, FamilyID: uuid.New(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, user); err != nil {
		t.Fatal(err)
	}
	_, h2 := token(t)
	if _, err := s.Rotate(ctx, h1, tokens.Refresh{Hash: h2, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, tokens.ErrRefreshInvalid) {
		t.Fatalf("Rotate for a deleted user = %v, want ErrRefreshInvalid", err)
	}
}

func TestRotationAndReuse(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	user, family := newUser(t, pool), uuid.New()
	_, h1 := token(t)
	if err := s.Save(ctx, tokens.Refresh{Hash: h1, UserID: user, FamilyID: family, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, h2 := token(t)
	got, err := s.Rotate(ctx, h1, tokens.Refresh{Hash: h2, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil || got != user {
		t.Fatalf("Rotate = %v, %v", got, err)
	}
	var fam uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT family_id FROM refresh_tokens WHERE hash = $1`, h2).Scan(&fam); err != nil || fam != family {
		t.Fatalf("successor's family = %v, %v", fam, err)
	}
	_, h3 := token(t)
	if _, err := s.Rotate(ctx, h2, tokens.Refresh{Hash: h3, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// h1 again: reuse. Every token of the family is revoked, h3 included.
	_, h4 := token(t)
	if _, err := s.Rotate(ctx, h1, tokens.Refresh{Hash: h4, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, tokens.ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := s.Rotate(ctx, h3, tokens.Refresh{Hash: h4, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, tokens.ErrRefreshInvalid) {
		t.Fatalf("newest token after reuse: %v", err)
	}
	var live int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL`, family).Scan(&live); err != nil || live != 0 {
		t.Fatalf("%d live tokens in a revoked family (%v)", live, err)
	}

	_, unknown := token(t)
	if _, err := s.Rotate(ctx, unknown, tokens.Refresh{Hash: h4, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, tokens.ErrRefreshInvalid) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestExpiredTokenIsInvalid(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	_, h := token(t)
	if err := s.Save(ctx, tokens.Refresh{Hash: h, UserID: uuid.New(), FamilyID: uuid.New(), ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	_, next := token(t)
	if _, err := s.Rotate(ctx, h, tokens.Refresh{Hash: next, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, tokens.ErrRefreshInvalid) {
		t.Fatalf("expired: %v", err)
	}
}

// Of two concurrent uses of one token, one rotates and the other counts
// as a reuse.
func TestConcurrentRotation(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	_, h := token(t)
	if err := s.Save(ctx, tokens.Refresh{Hash: h, UserID: newUser(t, pool), FamilyID: uuid.New(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		_, next := token(t)
		wg.Go(func() {
			_, errs[i] = s.Rotate(ctx, h, tokens.Refresh{Hash: next, ExpiresAt: time.Now().Add(time.Hour)})
		})
	}
	wg.Wait()
	ok, reused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, tokens.ErrRefreshReused):
			reused++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || reused != 1 {
		t.Fatalf("%d rotated, %d reused; want 1 and 1", ok, reused)
	}
}
