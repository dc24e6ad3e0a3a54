package webhooks

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"example.com/crm"
)

// MaxURLLength bounds a subscription's URL.
const MaxURLLength = 2048

// ValidateURL checks a subscription URL (400 VALIDATION_ERROR naming
// "url"): absolute, https (http too when allowPrivate), a host, no user
// name or password, at most MaxURLLength bytes, and no literal private
// address unless allowPrivate, nor the name "localhost" or one under it
// (RFC 6761: it always means loopback). Other host names are not
// resolved here: the address they resolve to is checked on every
// delivery, when it is dialed (NewClient), which DNS rebinding cannot
// get around.
func ValidateURL(raw string, allowPrivate bool) error {
	bad := func(msg string) error { return crm.Invalid(crm.FieldError{Field: "url", Message: msg}) }
	if len(raw) > MaxURLLength {
		return bad(fmt.Sprintf("must be at most %d bytes", MaxURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return bad("must be an absolute URL such as https://example.com/hooks")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return bad("must be an https URL")
	}
	if u.User != nil {
		return bad("must not carry a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("must not carry a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return bad("must name a host")
	}
	if ip, err := netip.ParseAddr(host); err == nil && !allowPrivate && !Public(ip) {
		return bad("must be a public address (private, loopback and link-local addresses are refused)")
	}
	if name := strings.TrimSuffix(strings.ToLower(host), "."); !allowPrivate && (name == "localhost" || strings.HasSuffix(name, ".localhost")) {
		return bad("must be a public address (localhost is loopback)")
	}
	return nil
}

// nonPublic lists what Public refuses beyond netip's own classes.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may embed a private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed a private IPv4
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// Public reports whether ip is a public unicast address a webhook may be
// delivered to: not loopback, private, link-local, unspecified,
// multicast, carrier-grade NAT or otherwise reserved.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// ErrPrivateAddress is the dial error for an address Public refuses.
var ErrPrivateAddress = errors.New("refused: the host resolves to a private, loopback or otherwise non-public address")

// Delivery limits.
const (
	// Timeout bounds one delivery, from dialing to the end of the
	// response (API.md: 10 s).
	Timeout = 10 * time.Second
	// MaxResponseBody is the most of a response that is read.
	MaxResponseBody = 64 << 10
	// MaxRequestBody bounds a delivery's body; a larger event is not
	// sent (its delivery fails for good and the cursor moves on).
	MaxRequestBody = 1 << 20
)

// NewClient is the HTTP client deliveries use: it checks the address
// actually dialed (after DNS resolution, on every connection) and
// refuses non-public ones unless allowPrivate; it follows no redirect (a
// 3xx is the answer, and a failure); it uses no proxy from the
// environment (a proxy would dial for it, unchecked); and it gives up
// after Timeout.
func NewClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !Public(ap.Addr()) {
				return fmt.Errorf("%w (%s)", ErrPrivateAddress, address)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: Timeout,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// readExcerpt reads at most MaxResponseBody of body and returns its first
// few hundred bytes, for last_error.
func readExcerpt(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, MaxResponseBody))
	const keep = 200
	if len(b) > keep {
		b = b[:keep]
	}
	return strings.ToValidUTF8(string(b), "")
}
