package webhooks_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"example.com/crm"
	"example.com/crm/webhooks"
)

// The test vector published with the Standard Webhooks specification
// (its reference libraries test against it).
func TestSignatureMatchesTheStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	got, err := webhooks.Signature([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	two, err := webhooks.Signature([]string{webhooks.NewSecret(), webhooks.NewSecret()}, "id", 1, []byte("{}"))
	if err != nil || len(strings.Fields(two)) != 2 {
		t.Fatalf("two secrets: %q, %v", two, err)
	}
}

func TestNewSecretIsWhsecAndThirtyTwoRandomBytes(t *testing.T) {
	t.Parallel()
	a, b := webhooks.NewSecret(), webhooks.NewSecret()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(raw) != 32 || a == b {
		t.Fatalf("secrets %q %q (%v)", a, b, err)
	}
}

func TestPublicRefusesEveryNonPublicRange(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700:4700::1111": true, "1.1.1.1": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "0.0.0.0": false, "::": false, "224.0.0.1": false,
		"ff02::1": false, "100.64.0.1": false, "fc00::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "255.255.255.255": false, "64:ff9b::a00:1": false, "198.18.0.1": false,
	} {
		if got := webhooks.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	long := "https://example.com/" + strings.Repeat("a", webhooks.MaxURLLength)
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://example.com/hooks", false, true},
		{"https://hooks.example.com:8443/a?b=c", false, true},
		{"http://example.com/hooks", false, false},
		{"http://127.0.0.1:8080/hooks", true, true},
		{"https://127.0.0.1/hooks", false, false},
		{"https://[::1]/hooks", false, false},
		{"https://10.0.0.5/hooks", false, false},
		{"https://localhost/hooks", false, false},
		{"https://LocalHost./hooks", false, false},
		{"https://app.localhost:8443/hooks", false, false},
		{"http://localhost:8080/hooks", true, true},
		{"https://localhost.example.com/hooks", false, true},
		{"https://notlocalhost/hooks", false, true},
		{"https://user:pw@example.com/hooks", false, false},
		{"https://example.com/hooks#frag", false, false},
		{"/relative", false, false},
		{"ftp://example.com/", true, false},
		{"https:///nohost", false, false},
		{"mailto:a@example.com", true, false},
		{long, false, false},
	} {
		err := webhooks.ValidateURL(tc.url, tc.allowPrivate)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateURL(%q, %v) = %v, want ok=%v", tc.url, tc.allowPrivate, err, tc.ok)
		}
		if err != nil && crm.ErrorCode(err) != crm.CodeValidation {
			t.Errorf("ValidateURL(%q): code %s", tc.url, crm.ErrorCode(err))
		}
	}
}

// The client checks the address it dials, after resolution: a host name
// that resolves to loopback is refused like a literal one, and a
// redirect is not followed.
func TestClientRefusesPrivateAddressesAtDialTimeAndFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/target", http.StatusFound)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL, "http://localhost:" + port} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u, nil)
		_, err := webhooks.NewClient(false).Do(req)
		if !errors.Is(err, webhooks.ErrPrivateAddress) {
			t.Errorf("POST %s without the switch: %v, want ErrPrivateAddress", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the server was reached %d times", hits.Load())
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/redirect", nil)
	res, err := webhooks.NewClient(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || hits.Load() != 1 {
		t.Fatalf("redirect: status %d after %d requests, want 302 after 1", res.StatusCode, hits.Load())
	}
}
