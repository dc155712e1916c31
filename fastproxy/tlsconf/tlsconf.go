// Package tlsconf builds the TLS side of Spillway: listener configurations
// with certificates chosen by SNI and reloaded when their files change, and
// client configurations for https backends.
//
// Everything here is the slow path except the certificate choice, which
// runs once per handshake (never per request on a kept-alive connection).
package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// Site is one TLS service on a listener.
type Site struct {
	// Name is the service name, for messages.
	Name string
	// Host is the SNI name served, matched case-insensitively (empty: the
	// port's default, which also answers every name no other site claims).
	// A host of the form "*.example.com" matches one label in its place.
	Host string
	// TLS holds the certificate files and the listener settings. The
	// listener settings (cipher_suites, session_tickets_disabled,
	// min_version, unknown_sni) must agree among the sites of a port.
	TLS *configs.TLS
}

// DefaultPollInterval is how often a Listener looks at its certificate files
// for changes (their modification time, size and identity).
const DefaultPollInterval = 10 * time.Second

// defaultExpiryWarning is used when a site's expiry_warning is zero.
const defaultExpiryWarning = 14 * 24 * time.Hour

// modernCipherSuites are the TLS 1.2 suites offered when a port configures
// none: forward-secret key exchange with AEAD ciphers only. TLS 1.3 suites
// are not configurable in crypto/tls and are always modern.
var modernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Listener is the TLS state of one port: its sites' certificates, the SNI
// choice between them, and a goroutine that reloads changed certificate
// files and logs certificates near expiry. It is safe for concurrent use.
type Listener struct {
	cfg  *tls.Config
	log  *slog.Logger
	port int

	sites  []*site
	byHost map[string]*site // exact lower-case host → site
	wild   map[string]*site // "example.com" for a host "*.example.com"
	def    *site            // the hostless site, or nil
	reject bool             // unknown_sni: reject (only without a hostless site)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// options are the knobs tests turn; NewListener uses the defaults.
type options struct {
	poll  time.Duration // certificate file polling
	daily time.Duration // expiry re-check
}

// NewListener loads the certificates of the sites sharing a port and starts
// watching their files.
//
// A handshake gets the certificate of the site whose Host matches its SNI
// name; an unknown name (or none) gets the hostless site's, else the first
// site's, unless a site sets unknown_sni: reject, which fails such
// handshakes (ignored, with a warning, when a hostless site answers every
// name anyway). Defaults: TLS 1.2 minimum, ECDHE with AES-GCM or
// ChaCha20-Poly1305 for TLS 1.2, session tickets on, ALPN "http/1.1".
//
// Files are polled every DefaultPollInterval; a changed pair is loaded and
// used for new handshakes, connections already open are untouched, and a
// pair that fails to load keeps the previous certificate. Certificates
// within expiry_warning (default 14 days) of expiry are logged at start,
// on reload and daily. log receives all of this (nil: slog.Default()).
//
// It fails when a certificate cannot be loaded, when two sites claim one
// host, or when sites disagree on min_version, cipher_suites or
// session_tickets_disabled. Call Close when the port closes.
func NewListener(port int, sites []Site, log *slog.Logger) (*Listener, error) {
	return newListener(port, sites, log, options{poll: DefaultPollInterval, daily: 24 * time.Hour})
}

func newListener(port int, sites []Site, log *slog.Logger, o options) (*Listener, error) {
	if log == nil {
		log = slog.Default()
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("tls port %d: no sites", port)
	}
	l := &Listener{
		log:    log.With("port", port),
		port:   port,
		byHost: make(map[string]*site),
		wild:   make(map[string]*site),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	settings, err := listenerSettings(port, sites)
	if err != nil {
		return nil, err
	}
	for _, s := range sites {
		st, err := loadSite(s)
		if err != nil {
			return nil, fmt.Errorf("tls port %d: %w", port, err)
		}
		l.sites = append(l.sites, st)
		if err := l.index(st); err != nil {
			return nil, fmt.Errorf("tls port %d: %w", port, err)
		}
	}
	l.reject = settings.reject
	if l.reject && l.def != nil {
		l.log.Warn("unknown_sni: reject has no effect: the service without host answers every name",
			"service", l.def.name)
		l.reject = false
	}
	for _, id := range settings.ciphers {
		if insecureCipher(id) {
			l.log.Warn("tls cipher suite is insecure", "suite", tls.CipherSuiteName(id))
		}
	}
	l.cfg = &tls.Config{
		MinVersion:             settings.minVersion,
		CipherSuites:           settings.ciphers,
		SessionTicketsDisabled: settings.ticketsOff,
		GetCertificate:         l.certificate,
		// fasthttp speaks HTTP/1.1 only; saying so lets ALPN clients agree.
		NextProtos: []string{"http/1.1"},
	}
	now := time.Now()
	for _, st := range l.sites {
		l.warnExpiry(st, st.cert.Load(), now)
	}
	go l.watch(o)
	return l, nil
}

// index records st under its host, refusing two sites with the same host.
func (l *Listener) index(st *site) error {
	h := normalizeHost(st.host)
	switch {
	case h == "":
		if l.def == nil {
			l.def = st
		}
		return nil
	case strings.HasPrefix(h, "*."):
		if prev, ok := l.wild[h[2:]]; ok {
			return fmt.Errorf("services %q and %q both serve host %q", prev.name, st.name, st.host)
		}
		l.wild[h[2:]] = st
	default:
		if prev, ok := l.byHost[h]; ok {
			return fmt.Errorf("services %q and %q both serve host %q", prev.name, st.name, st.host)
		}
		l.byHost[h] = st
	}
	return nil
}

// Config returns the tls.Config to serve the port with. Its certificates
// follow reloads; the Config itself must not be modified.
func (l *Listener) Config() *tls.Config { return l.cfg }

// Close stops watching certificate files. Connections already served keep
// working; the Config still answers handshakes with the last certificates.
func (l *Listener) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
	})
}

// settings are the listener-wide values the sites of a port must share.
type settings struct {
	minVersion uint16
	ciphers    []uint16
	ticketsOff bool
	reject     bool // unknown_sni: reject
}

// listenerSettings reads the listener settings of every site and fails,
// naming both services, when two disagree on one that configs also checks
// (min_version, cipher_suites as a set, session_tickets_disabled).
// unknown_sni is not one of them: the port rejects unknown names when any
// of its sites asks to.
func listenerSettings(port int, sites []Site) (settings, error) {
	var out settings
	var first string
	for i, s := range sites {
		if s.TLS == nil {
			return out, fmt.Errorf("tls port %d: service %q has no tls settings", port, s.Name)
		}
		cur, err := siteSettings(s)
		if err != nil {
			return out, fmt.Errorf("tls port %d: %w", port, err)
		}
		if i == 0 {
			out, first = cur, s.Name
			continue
		}
		var what string
		switch {
		case cur.minVersion != out.minVersion:
			what = "min_version"
		case !sameSet(cur.ciphers, out.ciphers):
			what = "cipher_suites"
		case cur.ticketsOff != out.ticketsOff:
			what = "session_tickets_disabled"
		}
		if what != "" {
			return out, fmt.Errorf("tls port %d: services %q and %q disagree on %s", port, first, s.Name, what)
		}
		out.reject = out.reject || cur.reject
	}
	return out, nil
}

// sameSet compares suite lists as sets: crypto/tls orders suites itself.
func sameSet(a, b []uint16) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func siteSettings(s Site) (settings, error) {
	t := s.TLS
	out := settings{ticketsOff: t.SessionTicketsDisabled, ciphers: modernCipherSuites}
	switch t.MinVersion {
	case "", "1.2":
		out.minVersion = tls.VersionTLS12
	case "1.3":
		out.minVersion = tls.VersionTLS13
	default:
		return out, fmt.Errorf("service %q: min_version %q: want \"1.2\" or \"1.3\"", s.Name, t.MinVersion)
	}
	switch strings.ToLower(t.UnknownSNI) {
	case "", "default":
	case "reject":
		out.reject = true
	default:
		return out, fmt.Errorf("service %q: unknown_sni %q: want \"default\" or \"reject\"", s.Name, t.UnknownSNI)
	}
	if len(t.CipherSuites) > 0 {
		out.ciphers = make([]uint16, len(t.CipherSuites))
		for i, c := range t.CipherSuites {
			if !knownCipher(uint16(c)) {
				return out, fmt.Errorf("service %q: cipher suite 0x%04x is not supported", s.Name, uint16(c))
			}
			out.ciphers[i] = uint16(c)
		}
	}
	return out, nil
}

func knownCipher(id uint16) bool {
	for _, c := range tls.CipherSuites() {
		if c.ID == id {
			return true
		}
	}
	return insecureCipher(id)
}

// insecureCipher reports a suite crypto/tls supports but lists as insecure
// (RC4, 3DES, CBC with SHA-256, static RSA key exchange).
func insecureCipher(id uint16) bool {
	for _, c := range tls.InsecureCipherSuites() {
		if c.ID == id {
			return true
		}
	}
	return false
}

// errUnknownSNI fails handshakes naming no configured host under
// unknown_sni: reject.
var errUnknownSNI = errors.New("tls: no certificate for the requested server name")

// certificate chooses the certificate of a handshake from its SNI name:
// the site of that host, else a "*." site of its parent domain, else the
// port's default (the hostless site, else the first), unless the port
// rejects unknown names. A handshake without SNI counts as unknown.
func (l *Listener) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalizeHost(hello.ServerName)
	if st, ok := l.byHost[name]; ok {
		return st.cert.Load(), nil
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		if st, ok := l.wild[parent]; ok {
			return st.cert.Load(), nil
		}
	}
	switch {
	case l.def != nil:
		return l.def.cert.Load(), nil
	case l.reject:
		return nil, errUnknownSNI
	}
	return l.sites[0].cert.Load(), nil
}

// normalizeHost lower-cases h and drops a trailing dot; it allocates only
// when h has upper-case letters.
func normalizeHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
