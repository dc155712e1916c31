package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// site is one Site with its current certificate. cert is swapped whole on
// reload, so a handshake sees either the old pair or the new, never a mix.
type site struct {
	name, host        string
	certFile, keyFile string
	warnWithin        time.Duration

	cert atomic.Pointer[tls.Certificate]

	// Stamps of the files as last read; only the watcher goroutine
	// touches them after loadSite.
	certStamp, keyStamp stamp
}

// stamp identifies a version of a file well enough to notice a change:
// an edit changes the time or size, a rename over it changes the identity.
type stamp struct {
	info os.FileInfo
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	return stamp{info: fi}, err
}

// changed reports whether now differs from s. A file that cannot be read
// counts as unchanged: a half-done replacement is retried at the next poll.
func (s stamp) changed(now stamp) bool {
	switch {
	case now.info == nil:
		return false
	case s.info == nil:
		return true
	}
	return !now.info.ModTime().Equal(s.info.ModTime()) ||
		now.info.Size() != s.info.Size() ||
		!os.SameFile(now.info, s.info)
}

func loadSite(s Site) (*site, error) {
	t := s.TLS
	st := &site{
		name: s.Name, host: s.Host,
		certFile: t.CertFile, keyFile: t.KeyFile,
		warnWithin: t.ExpiryWarning.D(),
	}
	if st.warnWithin <= 0 {
		st.warnWithin = defaultExpiryWarning
	}
	if st.certFile == "" || st.keyFile == "" {
		return nil, fmt.Errorf("service %q: tls needs cert_file and key_file", s.Name)
	}
	// Stamp before reading so a change during the read is seen next poll.
	st.certStamp, _ = stampOf(st.certFile)
	st.keyStamp, _ = stampOf(st.keyFile)
	c, err := loadPair(st.certFile, st.keyFile)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	st.cert.Store(c)
	return st, nil
}

// loadPair reads a certificate and key and parses the leaf, which the
// expiry check needs.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// watch polls the certificate files and re-checks expiry daily until Close.
func (l *Listener) watch(o options) {
	defer close(l.done)
	poll := time.NewTicker(o.poll)
	defer poll.Stop()
	daily := time.NewTicker(o.daily)
	defer daily.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-poll.C:
			for _, st := range l.sites {
				l.reload(st)
			}
		case now := <-daily.C:
			for _, st := range l.sites {
				l.warnExpiry(st, st.cert.Load(), now)
			}
		}
	}
}

// reload re-reads a site's pair when either file changed. A pair that does
// not load (a half-written file, a key that no longer matches) keeps the old
// certificate; the stamps are still taken, so the failure is logged once
// per change and the next change of either file is tried again.
func (l *Listener) reload(st *site) {
	cs, _ := stampOf(st.certFile)
	ks, _ := stampOf(st.keyFile)
	if !st.certStamp.changed(cs) && !st.keyStamp.changed(ks) {
		return
	}
	if cs.info != nil {
		st.certStamp = cs
	}
	if ks.info != nil {
		st.keyStamp = ks
	}
	c, err := loadPair(st.certFile, st.keyFile)
	if err != nil {
		l.log.Error("tls certificate reload failed; keeping the previous certificate",
			"service", st.name, "cert_file", st.certFile, "key_file", st.keyFile, "err", err)
		return
	}
	st.cert.Store(c)
	l.log.Info("tls certificate reloaded", "service", st.name, "cert_file", st.certFile,
		"not_after", c.Leaf.NotAfter)
	l.warnExpiry(st, c, time.Now())
}

// warnExpiry logs a certificate that expires within the site's warning
// window, or has expired.
func (l *Listener) warnExpiry(st *site, c *tls.Certificate, now time.Time) {
	if c == nil || c.Leaf == nil {
		return
	}
	left := c.Leaf.NotAfter.Sub(now)
	switch {
	case left <= 0:
		l.log.Error("tls certificate has expired", "service", st.name,
			"cert_file", st.certFile, "not_after", c.Leaf.NotAfter)
	case left <= st.warnWithin:
		l.log.Warn("tls certificate expires soon", "service", st.name,
			"cert_file", st.certFile, "not_after", c.Leaf.NotAfter, "left", left.Round(time.Minute))
	}
}
