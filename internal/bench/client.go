package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client talks to the server under test (always on 127.0.0.1).
type Client struct {
	base string // http://127.0.0.1:PORT
	hc   *http.Client
}

func newClient(base string) *Client {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	return &Client{base: base, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// StatusError is an unexpected HTTP status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

func isStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// Session is a logged-in user acting in one organization.
type Session struct {
	c     *Client
	Token string
	Org   string
	User  string
}

// Response is an HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Position is the X-Event-Position of a command response (0 if none).
func (r Response) Position() int64 {
	p, _ := strconv.ParseInt(r.Header.Get("X-Event-Position"), 10, 64)
	return p
}

// Version is the ETag's version (0 if none).
func (r Response) Version() int {
	v, _ := strconv.Atoi(strings.Trim(strings.TrimPrefix(r.Header.Get("ETag"), "W/"), `"`))
	return v
}

// ID is the "id" field of a JSON body.
func (r Response) ID() string {
	var b struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.ID
}

// do sends one request; a status other than want is a *StatusError.
func (c *Client) do(ctx context.Context, s *Session, method, path string, body any, hdr map[string]string, want ...int) (Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s != nil {
		req.Header.Set("Authorization", "Bearer "+s.Token)
		if s.Org != "" {
			req.Header.Set("X-Organization-Id", s.Org)
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return r, nil
		}
	}
	return r, &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: truncate(string(b), 300)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Do sends a request as the session.
func (s *Session) Do(ctx context.Context, method, path string, body any, want ...int) (Response, error) {
	return s.c.do(ctx, s, method, path, body, nil, want...)
}

// Eventual sends a GET with `Consistency: eventual` (no wait for projections).
func (s *Session) Eventual(ctx context.Context, path string, want ...int) (Response, error) {
	return s.c.do(ctx, s, http.MethodGet, path, nil, map[string]string{"Consistency": "eventual"}, want...)
}

// register creates a user and their organization.
func (c *Client) register(ctx context.Context, email, password, name string) (*Session, error) {
	r, err := c.do(ctx, nil, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"email": email, "password": password, "name": name, "organization_name": name + "'s org",
	}, nil, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	var b struct {
		AccessToken string `json:"access_token"`
		User        struct {
			ID string `json:"id"`
		} `json:"user"`
		Organization struct {
			ID string `json:"id"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return nil, err
	}
	return &Session{c: c, Token: b.AccessToken, Org: b.Organization.ID, User: b.User.ID}, nil
}

// login opens a session for an existing user in org.
func (c *Client) login(ctx context.Context, email, password, org string) (*Session, error) {
	r, err := c.do(ctx, nil, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": email, "password": password}, nil)
	if err != nil {
		return nil, err
	}
	var b struct {
		AccessToken string `json:"access_token"`
		User        struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return nil, err
	}
	return &Session{c: c, Token: b.AccessToken, Org: org, User: b.User.ID}, nil
}

// firstErrors keeps the first few unexpected errors of a run, for the log.
var firstErrors struct {
	sync.Mutex
	list []string
}

func noteError(err error) {
	firstErrors.Lock()
	defer firstErrors.Unlock()
	if len(firstErrors.list) < 20 {
		firstErrors.list = append(firstErrors.list, err.Error())
	}
}

func takeErrors() []string {
	firstErrors.Lock()
	defer firstErrors.Unlock()
	l := firstErrors.list
	firstErrors.list = nil
	return l
}
