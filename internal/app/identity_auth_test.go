package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"example.com/crm/internal/apitest"
)

// End-to-end rules of API.md §2 and §4 Auth: registration, login,
// tokens, refresh rotation, rate limits.

// register posts a registration with email and returns the answer.
func register(s *apitest.Server, email string) *apitest.Response {
	return s.Do(post("/auth/register", obj{
		"email": email, "password": "correct horse battery", "name": "Ada Lovelace", "organization_name": "Analytical Engines",
	}))
}

// uniqueEmail is an e-mail no other test uses.
func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%s@example.com", prefix, uuid.NewString()[:13])
}

func TestRegisterAnswersTokensUserAndOrganization(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	email := uniqueEmail("Ada")
	r := register(s, "  "+email+" ")
	expect(t, r, http.StatusCreated)
	var body struct {
		AccessToken, RefreshToken, TokenType string
		ExpiresIn                            int
		User                                 struct{ ID, Email, Name, CreatedAt string }
		Organization                         struct {
			ID, Name, Role, CreatedAt string
			Version                   int
		}
	}
	if err := json.Unmarshal(snake(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.AccessToken == "" || body.RefreshToken == "" || body.TokenType != "bearer" || body.ExpiresIn != 900 {
		t.Fatalf("tokens: %s", r.Body)
	}
	if body.User.Email != email || body.User.Name != "Ada Lovelace" || !utc(body.User.CreatedAt) {
		t.Fatalf("user: %s", r.Body)
	}
	if body.Organization.Name != "Analytical Engines" || body.Organization.Role != "owner" ||
		body.Organization.Version != 2 || !utc(body.Organization.CreatedAt) {
		t.Fatalf("organization: %s", r.Body)
	}
	if r.Header.Get("Location") == "" || r.Header.Get("X-Event-Position") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", r.Header)
	}

	me := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/auth/me", Token: body.AccessToken})
	expect(t, me, http.StatusOK)
	if m := me.JSON(t); m["id"] != body.User.ID || m["email"] != email || m["password_hash"] != nil {
		t.Fatalf("/auth/me: %s", me.Body)
	}
	orgs := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/organizations/me", Token: body.AccessToken})
	expect(t, orgs, http.StatusOK)
	items := orgs.JSON(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != body.Organization.ID || items[0].(map[string]any)["role"] != "owner" {
		t.Fatalf("/organizations/me: %s", orgs.Body)
	}

	// E-mails are trimmed and compared case-insensitively.
	expect(t, register(s, strings.ToUpper(email)), http.StatusConflict, "EMAIL_TAKEN")
	login := s.Do(post("/auth/login", obj{"email": " " + strings.ToUpper(email), "password": "correct horse battery"}))
	expect(t, login, http.StatusOK)
	if u := login.JSON(t)["user"].(map[string]any); u["id"] != body.User.ID {
		t.Fatalf("login user: %s", login.Body)
	}
}

func TestRegisterValidates(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	valid := obj{"email": uniqueEmail("v"), "password": "12345678", "name": "N", "organization_name": "O"}
	with := func(k string, v any) obj {
		b := obj{}
		for kk, vv := range valid {
			b[kk] = vv
		}
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"password of 7 characters", with("password", "1234567"), "password"},
		{"password of 129 characters", with("password", strings.Repeat("x", 129)), "password"},
		{"not an e-mail", with("email", "ada"), "email"},
		{"no e-mail", with("email", nil), "email"},
		{"empty name", with("name", "  "), "name"},
		{"name of 201 characters", with("name", strings.Repeat("n", 201)), "name"},
		{"no organization name", with("organization_name", nil), "organization_name"},
		{"unknown field", with("role", "owner"), "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.Do(post("/auth/register", tc.body))
			expect(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
			if !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Fatalf("error does not name %s: %s", tc.field, r.Body)
			}
		})
	}
	expect(t, s.Do(post("/auth/register", "{")), http.StatusBadRequest, "MALFORMED_JSON")
}

// An unknown e-mail and a wrong password get the very same answer.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	unknown := s.Do(post("/auth/login", obj{"email": uniqueEmail("nobody"), "password": "correct horse battery"}))
	wrong := s.Do(post("/auth/login", obj{"email": u.Email, "password": "wrong horse battery"}))
	for _, r := range []*apitest.Response{unknown, wrong} {
		expect(t, r, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		if r.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("no WWW-Authenticate: %v", r.Header)
		}
	}
	strip := func(r *apitest.Response) map[string]any {
		m := r.JSON(t)
		delete(m, "request_id")
		return m
	}
	a, b := strip(unknown), strip(wrong)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("answers differ:\n unknown e-mail: %v\n wrong password: %v", a, b)
	}
	expect(t, s.Do(post("/auth/login", obj{"email": u.Email, "password": ""})), http.StatusBadRequest, "VALIDATION_ERROR")
}

// sign makes an HS256 token with claims and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every way a token can be wrong is 401 UNAUTHENTICATED with
// WWW-Authenticate: Bearer.
func TestTokenChecks(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	key := []byte(apitest.SecretKey)
	now := time.Now()
	claims := func(sub string, exp *time.Time) jwt.MapClaims {
		c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "jti": uuid.NewString()}
		if exp != nil {
			c["exp"] = exp.Unix()
		}
		return c
	}
	later, earlier := now.Add(time.Hour), now.Add(-time.Minute)
	for _, tc := range []struct {
		name          string
		authorization string
		want          int
	}{
		{"a valid token", "Bearer " + u.Token, http.StatusOK},
		{"a valid token, scheme in lower case", "bearer " + u.Token, http.StatusOK},
		{"none", "", http.StatusUnauthorized},
		{"garbage", "Bearer garbage", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"wrong scheme", "Basic " + u.Token, http.StatusUnauthorized},
		{"no scheme", u.Token, http.StatusUnauthorized},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(u.ID, &later)), http.StatusUnauthorized},
		{"another algorithm (HS512, same key)", "Bearer " + sign(t, jwt.SigningMethodHS512, key, claims(u.ID, &later)), http.StatusUnauthorized},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, key, claims(u.ID, &earlier)), http.StatusUnauthorized},
		{"wrong key", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-key-that-is-long-enough"), claims(u.ID, &later)), http.StatusUnauthorized},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, key, claims(u.ID, nil)), http.StatusUnauthorized},
		{"unknown user", "Bearer " + sign(t, jwt.SigningMethodHS256, key, claims(uuid.NewString(), &later)), http.StatusUnauthorized},
		{"subject not a uuid", "Bearer " + sign(t, jwt.SigningMethodHS256, key, claims("admin", &later)), http.StatusUnauthorized},
		{"tampered payload", "Bearer " + tamper(u.Token), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/api/v1/auth/me", "/api/v1/organizations/me", "/api/v1/organizations/" + u.Org + "/members"} {
				r := s.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: map[string]string{"Authorization": tc.authorization}})
				if tc.want == http.StatusOK {
					expect(t, r, http.StatusOK)
					continue
				}
				expect(t, r, http.StatusUnauthorized, "UNAUTHENTICATED")
				if r.Header.Get("WWW-Authenticate") != "Bearer" {
					t.Fatalf("%s: WWW-Authenticate = %q", path, r.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// tamper swaps the token's payload for one naming another subject, keeping
// the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	parts[1] = jwtSegment(`{"sub":"` + uuid.NewString() + `","exp":9999999999}`)
	return strings.Join(parts, ".")
}

func jwtSegment(s string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// Refresh tokens rotate on every use; presenting a used one revokes its
// whole family, the newest token included.
func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	refresh := func(token string) *apitest.Response {
		return s.Do(post("/auth/refresh", obj{"refresh_token": token}))
	}
	pair := func(r *apitest.Response) (access, refresh string) {
		m := r.JSON(t)
		return m["access_token"].(string), m["refresh_token"].(string)
	}

	r1 := refresh(u.Refresh)
	expect(t, r1, http.StatusOK)
	access2, refresh2 := pair(r1)
	if refresh2 == u.Refresh || r1.JSON(t)["token_type"] != "bearer" {
		t.Fatalf("not rotated: %s", r1.Body)
	}
	expect(t, s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/auth/me", Token: access2}), http.StatusOK)
	r2 := refresh(refresh2)
	expect(t, r2, http.StatusOK)
	_, refresh3 := pair(r2)

	// The first token again: a thief or a replay. The family is revoked.
	expect(t, refresh(u.Refresh), http.StatusUnauthorized, "INVALID_REFRESH_TOKEN")
	expect(t, refresh(refresh3), http.StatusUnauthorized, "INVALID_REFRESH_TOKEN")

	// Other sessions of the same user are other families: untouched.
	login := s.Do(post("/auth/login", obj{"email": u.Email, "password": "correct horse battery"}))
	expect(t, login, http.StatusOK)
	_, other := pair(login)
	expect(t, refresh(other), http.StatusOK)

	expect(t, refresh("not-a-token"), http.StatusUnauthorized, "INVALID_REFRESH_TOKEN")
	expect(t, refresh(""), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.Do(post("/auth/refresh", obj{"refresh_token": u.Refresh, "extra": 1})), http.StatusBadRequest, "VALIDATION_ERROR")
}

// Two uses of one refresh token at once: exactly one gets a new pair.
func TestRefreshRace(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	statuses := race(t, 2, func() (*http.Request, error) {
		return jsonRequest(s.URL+"/api/v1/auth/refresh", obj{"refresh_token": u.Refresh})
	}, nil)
	if statuses[http.StatusOK] != 1 || statuses[http.StatusUnauthorized] != 1 {
		t.Fatalf("statuses %v, want one 200 and one 401", statuses)
	}
}

// Two registrations with one e-mail at once: exactly one 201, one 409.
func TestConcurrentRegistrationsWithOneEmail(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	for i := range 5 {
		email := uniqueEmail("race" + strconv.Itoa(i))
		codes := map[string]int{}
		statuses := race(t, 2, func() (*http.Request, error) {
			return jsonRequest(s.URL+"/api/v1/auth/register", obj{
				"email": email, "password": "correct horse battery", "name": "R", "organization_name": "R",
			})
		}, codes)
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != 1 || codes["EMAIL_TAKEN"] != 1 {
			t.Fatalf("round %d: statuses %v codes %v, want one 201 and one 409 EMAIL_TAKEN", i, statuses, codes)
		}
	}
}

func jsonRequest(url string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// race sends n requests made by mk at the same moment and counts their
// statuses (and, when codes is not nil, their problem codes).
func race(t *testing.T, n int, mk func() (*http.Request, error), codes map[string]int) map[int]int {
	t.Helper()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []error
		start    = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range n {
		req, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			res, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			statuses[res.StatusCode]++
			if codes != nil {
				var p struct{ Code string }
				_ = json.Unmarshal(body, &p)
				if p.Code != "" {
					codes[p.Code]++
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return statuses
}

// clientFrom is an HTTP client whose connections come from ip (any
// 127.0.0.0/8 address reaches a loopback server on Linux), so that a
// test has a client address of its own for per-IP rate limits.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// randomLoopback is a loopback address no other test (nor an earlier run
// sharing a Redis) is likely to use.
func randomLoopback() string {
	return fmt.Sprintf("127.%d.%d.%d", rand.IntN(254)+1, rand.IntN(254)+1, rand.IntN(253)+2)
}

// With AUTH_RATE_LIMIT=3, the 4th login in a minute is 429 with
// Retry-After, per client IP and per e-mail, with and without Redis.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			t.Parallel()
			s := apitest.Start(t, apitest.Options{Redis: withRedis, Env: map[string]string{"AUTH_RATE_LIMIT": "3"}})
			login := func(c *http.Client, email string) *http.Response {
				t.Helper()
				req, err := jsonRequest(s.URL+"/api/v1/auth/login", obj{"email": email, "password": "correct horse battery"})
				if err != nil {
					t.Fatal(err)
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res
			}
			expectLimited := func(res *http.Response) {
				t.Helper()
				if res.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("status %d, want 429", res.StatusCode)
				}
				if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
					t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
				}
			}

			// Per e-mail: one address, a new client address each time.
			u := s.Register(t)
			for i := 1; i <= 3; i++ {
				if res := login(clientFrom(randomLoopback()), u.Email); res.StatusCode != http.StatusOK {
					t.Fatalf("login %d: %d", i, res.StatusCode)
				}
			}
			expectLimited(login(clientFrom(randomLoopback()), u.Email))

			// Per client IP: one address, a new e-mail each time.
			c := clientFrom(randomLoopback())
			for i := 1; i <= 3; i++ {
				if res := login(c, uniqueEmail("ip")); res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("login %d: %d", i, res.StatusCode)
				}
			}
			expectLimited(login(c, uniqueEmail("ip")))

			// Registration counts apart, under the same rule.
			rc := clientFrom(randomLoopback())
			for i := 1; i <= 4; i++ {
				req, _ := jsonRequest(s.URL+"/api/v1/auth/register", obj{"email": uniqueEmail("reg"), "password": "correct horse battery", "name": "R", "organization_name": "R"})
				res, err := rc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if i <= 3 && res.StatusCode != http.StatusCreated {
					t.Fatalf("registration %d: %d", i, res.StatusCode)
				}
				if i == 4 {
					expectLimited(res)
				}
			}
		})
	}
}

// snake turns the snake_case keys of a JSON document into keys
// encoding/json matches case-insensitively against Go field names
// ("access_token" → "accesstoken").
func snake(b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return b
	}
	var fix func(any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, vv := range x {
				out[strings.ReplaceAll(k, "_", "")] = fix(vv)
			}
			return out
		case []any:
			for i := range x {
				x[i] = fix(x[i])
			}
		}
		return v
	}
	out, _ := json.Marshal(fix(v))
	return out
}

// utc reports whether s is an RFC 3339 timestamp in UTC with Z.
func utc(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && strings.HasSuffix(s, "Z")
}
